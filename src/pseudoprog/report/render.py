"""Write the human-readable report files (HTML, PDF) from an assessment's JSON form and its output folder.

Used by the pipeline's report stage and by ``pseudoprog report ASSESSMENT.json``, which re-renders
from ``assessment.json`` and the files beside it alone (no images, no case folder).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CannotAssessError, InputError
from ..files import write_atomic
from .html import render_html
from .pdf import html_to_pdf

HTML_NAME = "report.html"
PDF_NAME = "report.pdf"


@dataclass(frozen=True)
class RenderedReport:
    outputs: dict[str, str]  # output name → path relative to the output folder
    pdf_error: str | None  # why the PDF was not written, if it was not


def render_report_files(
    data: Mapping[str, Any], *, folder: Path, out_dir: Path | None = None, pdf: bool = True
) -> RenderedReport:
    """Write ``report.html`` (and ``report.pdf``) for an assessment.

    Parameters
    ----------
    data
        The JSON form of the assessment.
    folder
        The folder holding ``assessment.json``'s companions (``report-assets.json``, figures).
    out_dir
        Where to write; defaults to ``folder``.
    pdf
        Also write the PDF.
    """
    out = out_dir or folder
    out.mkdir(parents=True, exist_ok=True)
    html = render_html(data, folder=folder)
    write_atomic(out / HTML_NAME, html)
    outputs = {"report_html": HTML_NAME}
    if not pdf:
        return RenderedReport(outputs, None)
    try:
        write_atomic(out / PDF_NAME, html_to_pdf(html))
    except CannotAssessError as exc:
        return RenderedReport(outputs, exc.reason)
    outputs["report_pdf"] = PDF_NAME
    return RenderedReport(outputs, None)


def rerender(assessment_json: Path, *, out_dir: Path | None = None, pdf: bool = True) -> RenderedReport:
    """Re-render the report of a finished assessment from its ``assessment.json``.

    Raises
    ------
    InputError
        If the file is missing or is not an assessment.
    """
    path = Path(assessment_json)
    if not path.is_file():
        raise InputError("assessment file does not exist", file=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", file=path) from exc
    missing = {"case_id", "scope", "timepoints", "response", "probability_true_progression"} - set(data)
    if not isinstance(data, dict) or missing:
        raise InputError(
            f"not a pseudoprog assessment (missing keys: {', '.join(sorted(missing))})",
            file=path,
            expected="the assessment.json written by `pseudoprog assess`",
        )
    try:
        return render_report_files(data, folder=path.parent, out_dir=out_dir, pdf=pdf)
    except ValueError as exc:
        raise InputError(str(exc), file=path.parent) from exc
