"""Command-line options that several commands share, declared once so their names and help never drift apart."""

from __future__ import annotations

from typing import Annotated

import typer

#: ``--deidentify-dates`` of ``assess``, ``report`` and ``cohort`` (values: ``report.deidentify.DATE_OPTIONS``).
DeidentifyDates = Annotated[
    str, typer.Option("--deidentify-dates", help="shift (whole days, intervals kept) | remove (dummy dates)")
]
