"""Command-line options that several commands share, declared once so their names and help never drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: ``--deidentify-dates`` of ``assess``, ``report`` and ``cohort`` (values: ``report.deidentify.DATE_OPTIONS``).
DeidentifyDates = Annotated[
    str, typer.Option("--deidentify-dates", help="shift (whole days, intervals kept) | remove (dummy dates)")
]

#: ``--allow-root`` of every command that reads a case folder (``assess``, ``lesions``, ``inspect``): case.yaml's
#: paths (and the symlinks of its image folders) must lie inside the case folder or one of these.
AllowRoot = Annotated[
    list[Path] | None,
    typer.Option("--allow-root", help="A folder outside the case folder that case.yaml's paths may name."),
]
