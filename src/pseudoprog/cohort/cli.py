"""``pseudoprog cohort``: parse, call :func:`pseudoprog.cohort.run_cohort`, print where the outputs are."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from ..cli_options import DeidentifyDates
from .run import DEFAULT_MEMORY, DEFAULT_TIMEOUT_S


def cohort(
    cases_dir: Annotated[Path, typer.Argument(help="Folder of case folders (each with case.yaml), or a CSV.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: cohort.parquet/.csv/.html and cases/<name>/.")],
    workers: Annotated[int, typer.Option("--workers", help="Local worker processes (127.0.0.1), one case each.")] = 2,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Existing dask scheduler, tcp://HOST:PORT (shared filesystem).")
    ] = None,
    criteria: Annotated[
        list[str] | None, typer.Option("--criteria", help="Criteria in the table (repeat): RANO, mRANO, RANO 2.0 …")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds one case may take.")] = DEFAULT_TIMEOUT_S,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="Memory bound of one case's processes (and of each local worker).")
    ] = DEFAULT_MEMORY,
    labels: Annotated[Path | None, typer.Option("--labels", help="labels.csv: case_id, date, outcome.")] = None,
    profile: Annotated[Path | None, typer.Option("--profile", help="Site profile from `pseudoprog calibrate`.")] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Run error rows again.")] = False,
    deidentify: Annotated[
        bool,
        typer.Option(
            "--deidentify", help="De-identify every case's outputs and the cohort tables (one pseudonym per case)."
        ),
    ] = False,
    dates: DeidentifyDates = "shift",
) -> None:
    """Assess many cases in parallel on dask.distributed; one table, trial plots, criteria agreement."""
    from rich.console import Console
    from rich.markup import escape

    from ..errors import PseudoprogError
    from ..privacy import redact
    from .progress import CohortProgress
    from .run import run_cohort

    console = Console(stderr=True)
    # dask logs every worker start and stop at INFO; the progress bar says what matters (-v keeps INFO here).
    if not logging.getLogger().isEnabledFor(logging.INFO):
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler is not None and not scheduler.startswith("tcp://"):
        console.print("[bold red]error:[/bold red] --scheduler must look like tcp://HOST:PORT")
        raise typer.Exit(code=2)
    where = scheduler or f"{workers} local worker process(es) on 127.0.0.1"
    console.print(f"cohort on {where}; each case bounded to {memory_limit} and {timeout:g} s")
    try:
        with CohortProgress(console) as bar:
            run = run_cohort(
                cases_dir,
                out,
                workers=workers,
                scheduler=scheduler,
                criteria=criteria,
                timeout_s=timeout,
                memory_limit=memory_limit,
                labels=labels,
                profile=profile,
                retry_errors=retry_errors,
                progress=bar.update,
                deidentify=dates if deidentify else None,
            )
    except (PseudoprogError, ValueError) as exc:
        console.print(f"[bold red]error:[/bold red] {escape(redact(str(exc)))}")  # no quoted header value
        raise typer.Exit(code=2) from None
    console.print(
        f"{len(run.cases)} cases: {len(run.computed)} computed, {len(run.skipped)} unchanged, {len(run.failed)} failed"
    )
    for name in run.failed:
        console.print(f"[yellow]{name}:[/yellow] {run.done[name].get('error')}")
    for name, path in run.outputs.items():
        console.print(f"wrote {name}: {path}")
    if run.failed:
        raise typer.Exit(code=1)
