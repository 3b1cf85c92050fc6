"""Load the report's libraries ahead of the report stage, in a background thread (issue 19).

Writing the report starts with one-time costs that have nothing to do with the case: importing WeasyPrint and
loading pango and the fonts on the first layout (about 0.8 s here), and highdicom reading its JSON tables of the
DICOM standard on the first object it writes (about 0.3 s). The run pays them in a thread while the lesions and
maps are computed (numerics that leave a core partly idle), so the report stage starts warm. The PDF is laid out by
the run itself, never in a forked child: pango and GLib are not fork-safe (see :mod:`pseudoprog.forked`). Anything
that fails here is left for the report stage to meet and report in its own words.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def warm_report_libraries() -> None:
    """Import WeasyPrint and lay out one line (pango, the fonts); load highdicom's tables of the standard."""
    try:
        # highdicom caches its module/attribute tables (lru_cache) on first use; a private helper, so guarded.
        from highdicom._standard_utils import get_module_attribute_map

        get_module_attribute_map()
    except Exception:  # a highdicom without it: the first DICOM object loads what it needs
        log.debug("highdicom's tables were not loaded ahead of the report")
    try:
        import weasyprint

        weasyprint.HTML(string="<p>pseudoprog</p>").write_pdf()
    except Exception:  # WeasyPrint or pango missing: the report stage says so when it writes the PDF
        log.debug("WeasyPrint was not loaded ahead of the report")


def start_warming() -> threading.Thread:
    """Start :func:`warm_report_libraries` in a daemon thread; join it before forking (see ``forked.can_fork``)."""
    thread = threading.Thread(target=warm_report_libraries, name="warm-report", daemon=True)
    thread.start()
    return thread
