"""A patient's clinical context (case.yaml without image folders) and the case folder built from it and PACS.

The context is validated by the case.yaml reader itself (``ingest.caseyaml``), on a copy without ``images:``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..files import write_atomic
from ..ingest.caseyaml import _Loader as CaseYamlLoader  # the one case.yaml loader (dates kept as text)
from ..ingest.caseyaml import read_case_yaml

CONTEXT_FILE = "context.yaml (request body)"


def parse_context(text: str) -> dict[str, Any]:
    """Parse and validate context YAML; ``images:`` keys (top level or per timepoint) are dropped."""
    try:
        data = yaml.load(text, Loader=CaseYamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"is not valid YAML{where}", file=Path(CONTEXT_FILE)) from exc
    if not isinstance(data, dict):
        raise InputError("must hold a mapping", file=Path(CONTEXT_FILE), expected="patient:, diagnosis:, timepoints:")
    data.pop("images", None)
    for tp in data.get("timepoints") or []:
        if isinstance(tp, dict):
            tp.pop("images", None)
    with tempfile.TemporaryDirectory(prefix="pseudoprog-context-") as tmp:
        write_atomic(Path(tmp) / "case.yaml", yaml.safe_dump(data, sort_keys=False))
        try:
            read_case_yaml(Path(tmp))
        except InputError as exc:
            raise InputError(exc.problem, file=Path(CONTEXT_FILE), field=exc.field, expected=exc.expected) from None
    return data


def context_text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write_case_yaml(context: dict[str, Any], study_dates: list[dt.date], case_dir: Path) -> Path:
    """case.yaml for a folder holding one sub-folder of DICOM per study date (``YYYY-MM-DD/``).

    Each study date gets ``images: DATE/`` on the context's timepoint of that date, or a new timepoint when the
    context has none for it; the context's own timepoints without a study keep their reported values.
    """
    data = dict(context)
    tps = [dict(tp) for tp in (data.get("timepoints") or []) if isinstance(tp, dict)]
    by_date = {str(tp.get("date")): tp for tp in tps}
    for d in sorted(study_dates):
        key = d.isoformat()
        tp = by_date.get(key)
        if tp is None:
            tp = {"date": key}
            tps.append(tp)
            by_date[key] = tp
        tp["images"] = f"{key}/"
    data["timepoints"] = sorted(tps, key=lambda t: str(t.get("date")))
    path = case_dir / "case.yaml"
    write_atomic(path, context_text(data))
    return path
