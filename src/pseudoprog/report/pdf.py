"""The PDF form of the report: the same HTML laid out for A4 by WeasyPrint.

WeasyPrint (pure Python over the system's pango) was chosen over driving a browser: it needs no
browser at assessment time, honours the print stylesheet (``@page`` margins and page footer) and
embeds the data-URI figures of the self-contained HTML as they are.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CannotAssessError
from ..files import write_atomic


def html_to_pdf(html: str) -> bytes:
    """Lay out a self-contained HTML document as PDF bytes.

    Raises
    ------
    CannotAssessError
        If WeasyPrint or the system libraries it needs (pango) are not installed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: weasyprint installed but pango missing
        raise CannotAssessError(f"PDF not written: WeasyPrint cannot be loaded ({type(exc).__name__}: {exc})") from exc
    pdf = weasyprint.HTML(string=html).write_pdf()
    if not pdf:
        raise CannotAssessError("PDF not written: WeasyPrint produced no output")
    return bytes(pdf)


def write_pdf_report(html: str, path: Path) -> None:
    """Write the PDF atomically (whole or not at all)."""
    write_atomic(path, html_to_pdf(html))
