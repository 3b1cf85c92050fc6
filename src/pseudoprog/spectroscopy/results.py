"""Read spectral-fit results: LCModel ``.TABLE``, ``.COORD`` and ``.CSV``, and TARQUIN result tables.

A fit result is a list of metabolite estimates (concentration in the fitter's units and the relative
Cramér-Rao lower bound, "%SD") plus the fit's own quality figures (linewidth, signal-to-noise). Ratios
and the refusal of poor fits are in :mod:`pseudoprog.spectroscopy.ratios`.

Usage (not run as a doctest: it needs a real case or file)::

    fit = read_fit_result("svs_97.TABLE")
    fit.metabolites["GPC+PCh"].concentration
    # → 0.115
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, malformed

# LCModel concentration-table row: "    0.115   2%   0.457 GPC+PCh"; the ratio column may be absent
# (no reference metabolite) and a three-digit %SD can touch the next column.
_LCM_ROW = re.compile(r"^\s*([-+0-9.Ee]+)\s+([0-9]+)%\s*([-+0-9.Ee]+)?\s+(\S+)\s*$")
_LCM_CONC_HEAD = re.compile(r"lines in following concentration table", re.IGNORECASE)
_LCM_FWHM = re.compile(r"FWHM\s*=\s*([-+0-9.Ee]+)\s*ppm\s+S/N\s*=\s*([-+0-9.Ee]+)")
_TARQUIN_ROW = re.compile(r"^\s*(\S+)\s+([-+0-9.Ee]+|inf|nan)\s+([-+0-9.Ee]+|inf|nan)\s+([-+0-9.Ee]+|inf|nan)\s*$")


@dataclass(frozen=True)
class MetaboliteEstimate:
    """One fitted metabolite (or a fitter-reported combination such as ``GPC+PCh``).

    ``sd_percent`` is the relative Cramér-Rao lower bound in percent; ``math.inf`` when the fitter
    gave none (LCModel's 999 % for a zero estimate, TARQUIN's ``inf``).
    """

    name: str
    concentration: float
    sd_percent: float


@dataclass(frozen=True)
class FitResult:
    """The fit of one spectrum (one single voxel, or one voxel of a CSI grid).

    ``voxel`` is the fitter's 1-based (row, column, slice) for CSI results, ``None`` for a single
    voxel. ``quality`` holds the fit-wide figures: ``fwhm_ppm``, ``snr`` (and ``echo_time_ms`` for
    TARQUIN) when the fitter reports them.
    """

    source: Path
    fitter: str  # "LCModel" | "TARQUIN"
    metabolites: Mapping[str, MetaboliteEstimate]
    voxel: tuple[int, int, int] | None = None
    quality: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class CoordCurves:
    """The spectra in an LCModel ``.COORD`` file, on its ppm axis (descending)."""

    ppm: np.ndarray
    data: np.ndarray  # phased data
    fit: np.ndarray  # LCModel fit (baseline included)
    baseline: np.ndarray
    metabolites: Mapping[str, np.ndarray]  # each metabolite's fitted curve, baseline included


def _sd(value: float, *, undefined: float = 999.0) -> float:
    return math.inf if (not math.isfinite(value) or value >= undefined) else value


def _lcmodel_concentrations(lines: list[str], start: int, *, path: Path) -> tuple[dict[str, MetaboliteEstimate], int]:
    """Parse the concentration table whose announcement line is ``lines[start]``; returns it and the next index."""
    m = re.match(r"\s*(?:\$\$CONC\s+)?(\d+)\s+lines", lines[start])
    if m is None:
        raise InputError("malformed LCModel concentration-table header", file=path, field=f"line {start + 1}")
    n_lines = int(m.group(1))  # NCONC + 1: the column header and one row per metabolite
    out: dict[str, MetaboliteEstimate] = {}
    for offset in range(2, n_lines + 1):
        idx = start + offset
        if idx >= len(lines):
            raise InputError("LCModel concentration table is truncated", file=path, field=f"line {idx + 1}")
        row = _LCM_ROW.match(lines[idx])
        if row is None:
            raise InputError(
                f"unreadable LCModel concentration row {lines[idx].strip()!r}",
                file=path,
                field=f"line {idx + 1}",
                expected="'<conc> <sd>% <ratio> <name>'",
            )
        conc, sd, _ratio, name = row.groups()
        out[name] = MetaboliteEstimate(name=name, concentration=float(conc), sd_percent=_sd(float(sd)))
    return out, start + n_lines + 1


def _lcmodel_misc(lines: list[str]) -> dict[str, float]:
    for line in lines:
        m = _LCM_FWHM.search(line)
        if m:
            return {"fwhm_ppm": float(m.group(1)), "snr": float(m.group(2))}
    return {}


def read_lcmodel_table(path: str | Path) -> FitResult:
    """Read an LCModel ``.TABLE`` file (``$$CONC`` table and ``$$MISC`` fit quality)."""
    path = Path(path)
    lines = path.read_text(encoding="latin-1").splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("$$CONC")), None)
    if start is None:
        raise InputError("no '$$CONC' concentration table", file=path, expected="an LCModel .TABLE file")
    metabolites, _ = _lcmodel_concentrations(lines, start, path=path)
    return FitResult(source=path, fitter="LCModel", metabolites=metabolites, quality=_lcmodel_misc(lines))


def _read_block(lines: list[str], start: int, n: int, *, path: Path, what: str) -> tuple[np.ndarray, int]:
    values: list[float] = []
    i = start
    while len(values) < n:
        if i >= len(lines):
            raise InputError(f"LCModel .COORD {what} block is truncated", file=path, field=f"line {i + 1}")
        try:
            values.extend(float(v) for v in lines[i].split())
        except ValueError as exc:
            raise InputError(f"non-numeric value in the {what} block", file=path, field=f"line {i + 1}") from exc
        i += 1
    if len(values) != n:
        raise InputError(f"{what} block has {len(values)} values, expected {n}", file=path, field=f"line {i}")
    return np.asarray(values), i


def read_lcmodel_coord(path: str | Path) -> tuple[FitResult, CoordCurves]:
    """Read an LCModel ``.COORD`` file: its concentration table and the data, fit, baseline and metabolite curves."""
    path = Path(path)
    lines = path.read_text(encoding="latin-1").splitlines()
    start = next((i for i, line in enumerate(lines) if _LCM_CONC_HEAD.search(line)), None)
    if start is None:
        raise InputError("no concentration table", file=path, expected="an LCModel .COORD file")
    metabolites, i = _lcmodel_concentrations(lines, start, path=path)
    quality = _lcmodel_misc(lines[i : i + 10])
    ny_idx = next((j for j in range(i, len(lines)) if "points on ppm-axis" in lines[j]), None)
    if ny_idx is None:
        raise InputError("no ppm axis ('points on ppm-axis = NY')", file=path)
    n = int(lines[ny_idx].split()[0])
    ppm, j = _read_block(lines, ny_idx + 1, n, path=path, what="ppm axis")
    blocks: dict[str, np.ndarray] = {}
    curves: dict[str, np.ndarray] = {}
    while j < len(lines):
        line = lines[j]
        if "phased data points follow" in line:
            blocks["data"], j = _read_block(lines, j + 1, n, path=path, what="data")
        elif "fit to the data follow" in line:
            blocks["fit"], j = _read_block(lines, j + 1, n, path=path, what="fit")
        elif "background values follow" in line:
            blocks["baseline"], j = _read_block(lines, j + 1, n, path=path, what="baseline")
        elif "Conc. =" in line:
            name = line.split("Conc.")[0].strip()
            curves[name], j = _read_block(lines, j + 1, n, path=path, what=f"{name} curve")
        else:
            j += 1
    missing = {"data", "fit", "baseline"} - set(blocks)
    if missing:
        raise InputError(f"missing block(s) {', '.join(sorted(missing))}", file=path)
    fit = FitResult(source=path, fitter="LCModel", metabolites=metabolites, quality=quality)
    return fit, CoordCurves(
        ppm=ppm, data=blocks["data"], fit=blocks["fit"], baseline=blocks["baseline"], metabolites=curves
    )


def read_lcmodel_csv(path: str | Path) -> list[FitResult]:
    """Read an LCModel ``.CSV`` spreadsheet: one :class:`FitResult` per row (voxel) with its (row, col)."""
    path = Path(path)
    with path.open(newline="", encoding="latin-1") as handle:
        rows = [[c.strip() for c in r] for r in csv.reader(handle) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise InputError("no data rows", file=path, expected="an LCModel .CSV with a header and one row per voxel")
    header = rows[0]
    if header[:2] != ["Row", "Col"]:
        raise InputError("first columns are not 'Row, Col'", file=path, field="header", expected="LCModel .CSV")
    columns = {name: k for k, name in enumerate(header)}
    names = [h for h in header[2:] if not h.endswith("%SD") and "/" not in h]
    out = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{len(row)} values, header has {len(header)}", file=path, field=f"row {r}")
        try:
            mets = {
                n: MetaboliteEstimate(
                    name=n,
                    concentration=float(row[columns[n]]),
                    sd_percent=_sd(float(row[columns[f"{n} %SD"]])),
                )
                for n in names
                if f"{n} %SD" in columns
            }
            voxel = (int(row[0]), int(row[1]), 1)
        except ValueError as exc:
            raise InputError(f"non-numeric value ({exc})", file=path, field=f"row {r}") from exc
        out.append(FitResult(source=path, fitter="LCModel", metabolites=mets, voxel=voxel))
    return out


def read_tarquin(path: str | Path) -> FitResult:
    """Read a TARQUIN results table (``Signal  Conc (au)  %SD  SD (au)`` and the ``Fit quality`` section)."""
    path = Path(path)
    lines = path.read_text(encoding="latin-1").splitlines()
    head = next((i for i, line in enumerate(lines) if line.split()[:2] == ["Signal", "Conc"]), None)
    if head is None:
        raise InputError("no 'Signal Conc (au) %SD SD (au)' table", file=path, expected="a TARQUIN results file")
    mets: dict[str, MetaboliteEstimate] = {}
    for i in range(head + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            break
        if set(line.strip()) <= {"-"}:
            continue
        m = _TARQUIN_ROW.match(line)
        if m is None:
            raise InputError(f"unreadable TARQUIN row {line.strip()!r}", file=path, field=f"line {i + 1}")
        name, conc, sd_pct, _sd_abs = m.groups()
        mets[name] = MetaboliteEstimate(name=name, concentration=float(conc), sd_percent=_sd(float(sd_pct)))
    if not mets:
        raise InputError("empty TARQUIN concentration table", file=path)
    quality: dict[str, float] = {}
    for line in lines:
        key, _, value = line.partition(":")
        key = key.strip()
        try:
            if key == "Metab FWHM (PPM)":
                quality["fwhm_ppm"] = float(value)
            elif key == "SNR residual":
                quality["snr"] = float(value)
            elif key == "TE (s)":
                quality["echo_time_ms"] = 1000.0 * float(value)
        except ValueError:
            continue
    return FitResult(source=path, fitter="TARQUIN", metabolites=mets, quality=quality)


def sniff_fit_result(path: str | Path) -> str | None:
    """Which fit-result format a file holds, judged by its content: ``"lcmodel_table"``, ``"lcmodel_coord"``,
    ``"lcmodel_csv"``, ``"tarquin"`` or ``None`` (not a fit result). Reads at most the first 4 kB."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).decode("latin-1")
    except OSError:
        return None
    if "\x00" in head:
        return None
    if "LCModel" in head[:300]:
        if "$$CONC" in head:
            return "lcmodel_table"
        if _LCM_CONC_HEAD.search(head):
            return "lcmodel_coord"
    first = head.splitlines()[0] if head else ""
    if first.replace(" ", "").startswith("Row,Col,") and "%SD" in first:
        return "lcmodel_csv"
    if re.search(r"^Signal\s+Conc \(au\)\s+%SD", head, re.MULTILINE):
        return "tarquin"
    return None


def read_fit_result(path: str | Path) -> list[FitResult]:
    """Read any supported fit-result file (format judged by content); one result per voxel."""
    path = Path(path)
    with malformed(path, "reading the fit result"):  # a damaged table is named, never a traceback
        kind = sniff_fit_result(path)
        if kind == "lcmodel_table":
            return [read_lcmodel_table(path)]
        if kind == "lcmodel_coord":
            return [read_lcmodel_coord(path)[0]]
        if kind == "lcmodel_csv":
            return read_lcmodel_csv(path)
        if kind == "tarquin":
            return [read_tarquin(path)]
    raise InputError(
        "not a recognised spectroscopy fit result",
        file=path,
        expected="an LCModel .TABLE/.COORD/.CSV or a TARQUIN results table",
    )
