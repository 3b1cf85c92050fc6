"""The cases of a cohort and the content hash that decides whether a finished case is still up to date."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

CASE_FILE = "case.yaml"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CaseEntry:
    """One case of the cohort: ``name`` (unique, safe as a folder name) and its folder."""

    name: str
    path: Path


def _safe_name(text: str) -> str:
    return _SAFE.sub("_", text).strip("._") or "case"


def find_cases(source: Path) -> list[CaseEntry]:
    """Case folders: every folder holding ``case.yaml`` directly under ``source`` (or ``source`` itself
    when it is one), or the folders listed in a CSV (column ``case_dir``, optional ``case``; relative paths
    are read from the CSV's folder). Names are the folder names, made unique.
    """
    source = Path(source)
    if source.is_file():
        folders = _from_csv(source)
    elif source.is_dir():
        if (source / CASE_FILE).is_file():
            folders = [(source.name, source)]
        else:
            folders = [(p.name, p) for p in sorted(source.iterdir()) if p.is_dir() and (p / CASE_FILE).exists()]
        if not folders:
            raise InputError(
                "no case folder found", file=source, expected=f"sub-folders each holding {CASE_FILE}, or a CSV"
            )
    else:
        raise InputError("not found", file=source, expected="a folder of case folders, or a CSV listing them")
    entries: list[CaseEntry] = []
    seen: set[str] = set()
    for label, folder in folders:
        base = name = _safe_name(label)
        k = 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        entries.append(CaseEntry(name=name, path=folder))
    return entries


def _from_csv(path: Path) -> list[tuple[str, Path]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "case_dir" not in [f.strip() for f in reader.fieldnames]:
            raise InputError("no 'case_dir' column", file=path, field="case_dir", expected="one case folder per row")
        out = []
        for i, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            if not row.get("case_dir"):
                raise InputError(f"row {i}: empty case_dir", file=path, field="case_dir", expected="a case folder")
            folder = Path(row["case_dir"])
            folder = folder if folder.is_absolute() else path.parent / folder
            out.append((row.get("case") or folder.name, folder))
    if not out:
        raise InputError("no rows", file=path, expected="one case folder per row")
    return out


def software_fingerprint() -> str:
    """The version and a digest of pseudoprog's own code and data files: a changed rule or table redoes the cases."""
    from .. import __version__

    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted(package.rglob("*")):
        if p.suffix in (".py", ".yaml", ".csv", ".html", ".css") and "__pycache__" not in p.parts:
            h.update(p.relative_to(package).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return f"{__version__}+{h.hexdigest()[:16]}"


def case_hash(folder: Path, *, software_version: str, extra: bytes = b"") -> str:
    """SHA-256 over the software version, ``extra`` (e.g. a site profile) and every file under ``folder``
    (relative path and content). Special files (FIFOs, sockets, devices) enter by name and type only:
    reading them could block the whole run.
    """
    h = hashlib.sha256()
    h.update(f"pseudoprog {software_version}\0".encode())
    h.update(extra + b"\0")
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for fname in sorted(files):
            p = Path(root) / fname
            rel = p.relative_to(folder).as_posix().encode()
            try:
                st = p.stat()
            except OSError:
                h.update(b"missing\0" + rel + b"\0")
                continue
            if not stat.S_ISREG(st.st_mode):
                h.update(b"special\0" + rel + f"\0{stat.S_IFMT(st.st_mode)}\0".encode())
                continue
            h.update(b"file\0" + rel + f"\0{st.st_size}\0".encode())
            with p.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    h.update(chunk)
    return h.hexdigest()
