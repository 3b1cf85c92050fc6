"""Self-contained HTML report of an :class:`~pseudoprog.assessment.Assessment` (Jinja2, no external assets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ..assessment import Assessment, write_atomic

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("pseudoprog.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


_ENV.filters["fmt"] = _fmt


def render_html(assessment: Assessment | dict[str, Any]) -> str:
    data = assessment.to_json_dict() if isinstance(assessment, Assessment) else assessment
    return _ENV.get_template("report.html").render(a=data)


def write_html_report(assessment: Assessment | dict[str, Any], path: Path) -> None:
    write_atomic(path, render_html(assessment))
