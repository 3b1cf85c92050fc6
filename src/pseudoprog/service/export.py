"""The service's export: a patient's latest assessment as a ZIP of its output folder, de-identified.

The export is the way results leave the reading room for research or a second opinion, so it carries no identity
unless the deployment says otherwise (``serve --export-identified``): the folder goes through
:func:`pseudoprog.report.deidentify.deidentify_folder` (PS3.15 Basic Profile on every DICOM object, text and file
names de-identified, the report drawn again). One secret per deployment, kept in the service's database, gives a
patient the same pseudonym, UIDs and date shift in every export.
"""

from __future__ import annotations

import io
import secrets
import tempfile
import zipfile
from pathlib import Path

from ..report.deidentify import Deidentifier, deidentify_folder
from ..store import Store
from .jobs import get_setting, set_setting

SECRET_KEY = "export_deidentify_secret"


def deployment_deidentifier(store: Store, dates: str) -> Deidentifier:
    """A Deidentifier with this deployment's secret (made and stored on first use)."""
    secret = get_setting(store, SECRET_KEY)
    if not secret:
        set_setting(store, SECRET_KEY, secrets.token_hex(32))
        secret = get_setting(store, SECRET_KEY)  # the one stored (another process may have won the race)
    assert secret is not None
    return Deidentifier(dates=dates, secret=secret)


def export_zip(result_dir: Path, *, deid: Deidentifier | None) -> tuple[bytes, str]:
    """(ZIP bytes, suggested file name) of an output folder, de-identified when ``deid`` is given."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="pseudoprog-export-") as tmp:
        if deid is not None:
            folder = Path(tmp) / "export"
            deidentify_folder(result_dir, folder, deid)
        else:
            folder = Path(result_dir)
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                rel = path.relative_to(folder)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                zf.write(path, rel.as_posix())
    name = "pseudoprog-export.zip"
    return buf.getvalue(), name
