"""The ``pseudoprog`` command. Thin: it parses arguments, calls the library and prints results."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import __version__
from .errors import PseudoprogError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Decision support for true progression vs treatment effect on post-treatment brain MRI.",
)
console = Console(stderr=True)
# `pseudoprog maps dsc|dce|asl|adc|tram INPUT --out DIR`: one command per kind of map, each calling its stage.
maps_app = typer.Typer(no_args_is_help=True, help="Compute quantitative maps from one series (no case needed).")
app.add_typer(maps_app, name="maps")


def _progress(message: str) -> None:
    console.print(f"[dim]•[/dim] {message}")


def _fail(exc: PseudoprogError) -> typer.Exit:
    console.print(f"[bold red]error:[/bold red] {exc}")
    return typer.Exit(code=2)


def _summarise(assessment, out: Path) -> None:
    p = assessment.probability_true_progression
    if not assessment.scope.in_scope:
        console.print(f"[yellow]out of scope:[/yellow] {assessment.scope.reason}")
    else:
        prob = (
            f"{100 * p.value:.0f} % (interval {100 * p.interval[0]:.0f}–{100 * p.interval[1]:.0f} %)"
            if p.value is not None and p.interval
            else "not assessed"
        )
        console.print(f"probability of true progression: [bold]{prob}[/bold]")
        if assessment.response is not None:
            console.print(f"response ({assessment.response.criteria}): [bold]{assessment.response.category}[/bold]")
        if assessment.recommendation.next_step:
            console.print(f"next step: [bold]{assessment.recommendation.next_step}[/bold]")
    if assessment.not_assessed:
        console.print(f"[dim]{len(assessment.not_assessed)} item(s) not assessed (see the report)[/dim]")
    for name, rel in assessment.outputs.items():
        console.print(f"wrote {name}: {out / rel}")


@app.command()
def assess(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding case.yaml and the image folders.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default CASE_DIR/pseudoprog-output).")
    ] = None,
) -> None:
    """Assess one case: every built stage, then assessment.json and report.html."""
    from .pipeline import assess as run

    out_dir = out or case_dir / "pseudoprog-output"
    try:
        result = run(case_dir, out_dir, progress=_progress)
    except PseudoprogError as exc:
        raise _fail(exc) from None
    _summarise(result, out_dir)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the synthetic case and its outputs.")] = Path(
        "demo-output"
    ),
    scenario: Annotated[
        str,
        typer.Option("--scenario", help="true_progression | pseudoprogression | radiation_necrosis_after_srs | stable"),
    ] = "pseudoprogression",
    fmt: Annotated[str, typer.Option("--format", help="dicom | nifti")] = "dicom",
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the synthetic patient.")] = 7,
) -> None:
    """Build a synthetic patient (known truth) and assess it."""
    from .phantoms.patient import SCENARIOS, write_synthetic_case
    from .pipeline import assess as run

    if scenario not in SCENARIOS:
        console.print(
            f"[bold red]error:[/bold red] unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
        )
        raise typer.Exit(code=2)
    if fmt not in ("dicom", "nifti"):
        console.print("[bold red]error:[/bold red] --format must be dicom or nifti")
        raise typer.Exit(code=2)
    case_dir = out / f"case-{scenario}"
    _progress(f"building synthetic patient ({scenario}, {fmt}, seed {seed})")
    try:
        write_synthetic_case(case_dir, scenario=scenario, fmt=fmt, seed=seed)
        result = run(case_dir, out / f"output-{scenario}", progress=_progress)
    except PseudoprogError as exc:
        raise _fail(exc) from None
    _summarise(result, out / f"output-{scenario}")


@app.command()
def phantom(
    out: Annotated[Path, typer.Argument(help="Case folder to create.")],
    scenario: Annotated[str, typer.Option("--scenario")] = "pseudoprogression",
    fmt: Annotated[str, typer.Option("--format", help="dicom | nifti")] = "nifti",
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """Write a synthetic case folder (case.yaml, images and truth.json) without assessing it."""
    from .phantoms.patient import write_synthetic_case

    try:
        write_synthetic_case(out, scenario=scenario, fmt=fmt, seed=seed)
    except (PseudoprogError, ValueError) as exc:
        console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"wrote {out}")


@app.command()
def lesions(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding case.yaml and the image folders.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for lesions.json and the label maps.")] = Path(
        "lesions-output"
    ),
    within_session: Annotated[
        str, typer.Option("--within-session", help="rigid (register T1/T2/FLAIR onto the T1c) | header")
    ] = "rigid",
    across_sessions: Annotated[str, typer.Option("--across-sessions", help="rigid | affine | auto")] = "rigid",
    brain: Annotated[
        str, typer.Option("--brain-mask", help="classical | deepbet (optional extra) | auto")
    ] = "classical",
) -> None:
    """Segment, measure (RANO, mm) and track the lesions of every timepoint; write lesions.json and label maps."""
    from .ingest import ingest_case
    from .lesions.analysis import analyse_case
    from .lesions.output import write_lesions

    try:
        case = ingest_case(case_dir).case
        result = analyse_case(case, within_session=within_session, across_sessions=across_sessions, progress=_progress)
        written = write_lesions(result, out)
    except (PseudoprogError, ValueError) as exc:
        console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(code=2) from None
    for date in sorted(result.timepoints):
        for les in result.lesion_objects(date):
            m = les.measurement
            ml = (m.enhancing_volume_mm3 or 0) / 1000
            console.print(
                f"{date} {les.id}: {m.long_mm} × {m.perp_mm} mm, enhancing {ml:.2f} mL"
                f"{' (new)' if les.new else ''}{'' if m.measurable else ' — not measurable'}"
            )
    for when, reason in result.skipped:
        console.print(f"[yellow]{when}: not assessed:[/yellow] {reason}")
    for name, path in written.items():
        console.print(f"wrote {name}: {path}")


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="A case folder, or an image folder of DICOM/NIfTI files.")],
) -> None:
    """List the series found and how each was classified (and why)."""
    from rich.table import Table

    from .ingest import ingest_case, scan_images

    try:
        if (path / "case.yaml").exists():
            result = ingest_case(path)
            groups = [(tp.date.isoformat(), tp.series) for tp in result.case.timepoints]
            warnings = result.warnings
        else:
            scan = scan_images(path)
            groups, warnings = [(path.name, scan.series)], scan.warnings
    except PseudoprogError as exc:
        raise _fail(exc) from None
    table = Table("timepoint", "kind", "description", "format", "shape", "frames", "why")
    for label, series in groups:
        for s in series:
            table.add_row(
                label,
                s.kind.value,
                s.description[:40],
                s.source_format,
                "x".join(map(str, s.shape)),
                str(s.n_frames),
                s.classification_reason,
            )
    Console().print(table)
    for w in warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def _version_callback(value: bool) -> None:
    if value:
        print(f"pseudoprog {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
