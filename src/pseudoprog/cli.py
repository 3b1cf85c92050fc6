"""The ``pseudoprog`` command. Thin: it parses arguments, calls the library and prints results."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__, privacy
from .cli_options import AllowRoot, DeidentifyDates
from .errors import (
    EXIT_UNEXPECTED,
    CannotAssessError,
    OutOfScopeError,
    PseudoprogError,
    exit_code,
    write_traceback_log,
)
from .memory import without_hugepage_advice

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Decision support for true progression vs treatment effect on post-treatment brain MRI.",
)
console = Console(stderr=True)
log = logging.getLogger(__name__)
# `pseudoprog maps dsc|dce|asl|adc|tram INPUT --out DIR`: one command per kind of map, each calling its stage.
maps_app = typer.Typer(no_args_is_help=True, help="Compute quantitative maps from one series (no case needed).")
app.add_typer(maps_app, name="maps")


def _progress(message: str) -> None:
    console.print(f"[dim]•[/dim] {message}")


_DEBUG = False  # --debug: print the traceback of an unexpected error


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Every command's exits, from the one table in :data:`pseudoprog.errors.EXIT_CODES`: one line on stderr.

    An unexpected error (a bug) is one line too; its traceback goes to a log file, and to stderr with --debug.
    """
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # the one place an error becomes an exit code
        code, label = exit_code(exc)
        if code == EXIT_UNEXPECTED:
            log.info("unexpected error", exc_info=True)  # the traceback, shown with --verbose
            where = write_traceback_log(exc)
            text = privacy.redact(str(exc))
            first = text.splitlines()[0] if text else ""
            message = f"{type(exc).__name__}: {first} (traceback in {where or 'no log file'}; please report it)"
            if _DEBUG:  # as the log file has it: a quoted header value withheld (rich's print_exception would not)
                trace = privacy.redact("".join(traceback.format_exception(exc)))
                console.print(escape(trace), highlight=False, soft_wrap=True)
        elif isinstance(exc, OSError) and not isinstance(exc, PseudoprogError):
            message = f"{exc.filename or ''}: {exc.strerror or type(exc).__name__}".lstrip(": ")
        else:
            message = exc.reason if isinstance(exc, (CannotAssessError, OutOfScopeError)) else str(exc)
        message = privacy.redact(message)  # a library's error text may quote a header value
        console.print(f"[bold red]{label}:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=code) from None


def _summarise(assessment, out: Path) -> None:
    from .report.html import percent

    p = assessment.probability_true_progression
    if not assessment.scope.in_scope:
        console.print(f"[yellow]out of scope:[/yellow] {assessment.scope.reason}")
    else:
        prob = (
            f"{percent(p.value)} % (interval {percent(p.interval[0])}–{percent(p.interval[1])} %)"
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
    profile: Annotated[
        Path | None, typer.Option("--profile", help="Site profile from `pseudoprog calibrate` (local cut-offs).")
    ] = None,
    allow_root: AllowRoot = None,
    deidentify: Annotated[
        bool, typer.Option("--deidentify", help="PS3.15 Basic Profile on DICOM outputs; a pseudonym in the report.")
    ] = False,
    dates: DeidentifyDates = "shift",
) -> None:
    """Assess one case: every built stage, then assessment.json and report.html."""
    from .flow import assess as run

    out_dir = out or case_dir / "pseudoprog-output"
    with _errors():
        result = run(
            case_dir,
            out_dir,
            progress=_progress,
            profile=profile,
            allow_roots=allow_root or (),
            deidentify=dates if deidentify else None,
        )
    _summarise(result, out_dir)


@app.command()
def report(
    assessment_json: Annotated[Path, typer.Argument(help="The assessment.json written by `pseudoprog assess`.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for report.html and report.pdf (default: beside the JSON).")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write the PDF.")] = True,
    deidentify: Annotated[
        bool,
        typer.Option(
            "--deidentify", help="Write a de-identified copy of the whole output folder into --out (a new folder)."
        ),
    ] = False,
    dates: DeidentifyDates = "shift",
) -> None:
    """Re-render the HTML (and PDF) report from an assessment.json and the files beside it."""
    from .report.render import rerender

    if deidentify:
        with _errors():
            written = _deidentified_report(assessment_json, out, pdf=pdf, dates=dates)
        for rel in written:
            console.print(f"wrote {out / rel if out else rel}")
        return
    with _errors():
        rendered = rerender(assessment_json, out_dir=out, pdf=pdf)
    target = out or assessment_json.parent
    for name, rel in rendered.outputs.items():
        console.print(f"wrote {name}: {target / rel}")
    if rendered.pdf_error:
        console.print(f"[yellow]PDF not written:[/yellow] {rendered.pdf_error}")


def _deidentified_report(assessment_json: Path, out: Path | None, *, pdf: bool, dates: str) -> list[str]:
    """``report --deidentify``: the folder of ``assessment_json``, de-identified, into a new folder ``out``."""
    from .errors import InputError
    from .report.deidentify import DATE_OPTIONS, Deidentifier, deidentify_folder

    if dates not in DATE_OPTIONS:
        raise InputError(f"unknown value {dates!r}", field="--deidentify-dates", expected="shift or remove")
    deid = Deidentifier(dates=dates)
    source = assessment_json.parent
    if out is None or out.resolve() == source.resolve() or out.resolve().is_relative_to(source.resolve()):
        raise InputError(
            "a de-identified copy needs its own folder", field="--out", expected="a folder outside the source's"
        )
    if not assessment_json.is_file():
        raise InputError("assessment file does not exist", file=assessment_json)
    if out.exists() and any(out.iterdir()):
        raise InputError("exists already and is not empty", file=out, expected="a new or empty folder")
    return sorted(deidentify_folder(source, out, deid, pdf=None if pdf else False))


@app.command()
def calibrate(
    labelled: Annotated[Path, typer.Argument(help="CSV: a 'label' column (1/0) and one column per marker name.")],
    out: Annotated[Path, typer.Option("--out", help="Site profile to write (YAML); the diagram goes beside it.")],
    folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold split and bootstrap.")] = 0,
) -> None:
    """Learn a site's cut-offs from its labelled cases: CV AUC with bootstrap interval, reliability diagram."""
    from .evidence.calibration import calibrate as run

    with _errors():
        report = run(labelled, out, folds=folds, seed=seed)
    lo, hi = report.cv_auc_interval
    console.print(f"cross-validated AUC {report.cv_auc:.3f} (95 % bootstrap {lo:.3f}–{hi:.3f}), n = {report.n_cases}")
    console.print(f"calibration error {report.calibration_error:.3f}")
    op = report.operating_point
    console.print(
        f"operating point: P ≥ {op['probability_threshold']:.2f} → sensitivity {op['sensitivity']:.2f}, "
        f"specificity {op['specificity']:.2f}"
    )
    for name, reason in report.skipped.items():
        console.print(f"[yellow]skipped {name}:[/yellow] {reason}")
    console.print(f"wrote profile: {report.profile_path}")
    console.print(f"wrote reliability diagram: {report.diagram_path}")


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
    from .flow import assess as run
    from .phantoms.patient import SCENARIOS, write_synthetic_case

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
    with _errors():
        write_synthetic_case(case_dir, scenario=scenario, fmt=fmt, seed=seed)
        result = run(case_dir, out / f"output-{scenario}", progress=_progress)
    _summarise(result, out / f"output-{scenario}")


@maps_app.command("dsc")
def maps_dsc(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="DICOM folder, or 4D NIfTI with a JSON sidecar.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the maps (NIfTI) and dsc_parameters.json.")],
    aif_mask: Annotated[
        Path | None, typer.Option("--aif-mask", help="NIfTI mask of arterial voxels on the DSC grid (else automatic).")
    ] = None,
    reference_mask: Annotated[
        Path | None, typer.Option("--reference-mask", help="NIfTI mask of the normalisation reference (else NAWM).")
    ] = None,
    lesion_mask: Annotated[
        Path | None, typer.Option("--lesion-mask", help="NIfTI mask of the enhancing lesion: per-lesion summary.")
    ] = None,
    leakage: Annotated[
        str,
        typer.Option(
            "--leakage",
            help="auto (chosen from the data per lesion/region) | bsw (consensus; FTB thresholds) | bjornerud | none",
        ),
    ] = "auto",
    deconvolution: Annotated[str, typer.Option("--deconvolution", help="osvd | csvd | ssvd")] = "osvd",
) -> None:
    """DSC perfusion maps: leakage-corrected and uncorrected rCBV, CBF, MTT, K2 and FTB classes."""
    from .perfusion.dsc.io import compute_dsc_maps

    with _errors():
        run = compute_dsc_maps(
            input_path,
            out,
            aif_mask=aif_mask,
            reference_mask=reference_mask,
            lesion_mask=lesion_mask,
            leakage=leakage,
            deconvolution=deconvolution,
        )
    for warning in run.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if run.lesion is not None:
        s = run.lesion
        console.print(
            f"lesion: rCBV mean {s.rcbv_mean:.2f}, max (p{s.robust_max_percentile:g}) {s.rcbv_p90:.2f} "
            f"[uncorrected {s.rcbv_uncorrected_mean:.2f}/{s.rcbv_uncorrected_p90:.2f}], "
            f"FTB > 1.75 {100 * s.ftb_high:.0f} %"
        )
    for item in run.written:
        console.print(f"wrote {item.name}: {item.path}")


@app.command()
def phantom(
    out: Annotated[Path, typer.Argument(help="Case folder to create.")],
    scenario: Annotated[str, typer.Option("--scenario")] = "pseudoprogression",
    fmt: Annotated[str, typer.Option("--format", help="dicom | nifti")] = "nifti",
    seed: Annotated[int, typer.Option("--seed")] = 7,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing phantom case folder.")] = False,
) -> None:
    """Write a synthetic case folder (case.yaml, images and truth.json) without assessing it."""
    from .errors import FileSystemError
    from .phantoms.patient import write_synthetic_case

    with _errors():
        if out.exists() and not force:
            raise FileSystemError("exists already", file=out, expected="a new folder, or --force to replace a phantom")
        write_synthetic_case(out, scenario=scenario, fmt=fmt, seed=seed)
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
        str,
        typer.Option(
            "--brain-mask",
            help="auto (classical; deepbet where the classical mask cannot be the brain, if the optional extra "
            "pseudoprog[brainmask] is installed) | classical | deepbet",
        ),
    ] = "auto",
    allow_root: AllowRoot = None,
) -> None:
    """Segment, measure (RANO, mm) and track the lesions of every timepoint; write lesions.json and label maps."""
    from .ingest import ingest_case
    from .lesions.analysis import analyse_case
    from .lesions.output import write_lesions

    with _errors():
        ingested = ingest_case(case_dir, allow_roots=allow_root or ())
        result = analyse_case(
            ingested.case,
            within_session=within_session,
            across_sessions=across_sessions,
            brain_method=brain,
            progress=_progress,
        )
        written = write_lesions(result, out)
    from .lesions.analysis import nothing_measured_note, partial_search_warning, refusal_warning
    from .lesions.stage import event_warning

    # What ingest could not decide (a series it could not type, no T1c among a session's series, with the case.yaml
    # line that fixes it) is said first: a timepoint "not assessed" for want of a T1c is explained there.
    for w in ingested.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    events: dict[object, list[str]] = {}
    for event in result.events:
        events.setdefault(event.date, []).append(event_warning(event))
    for date in sorted(result.timepoints):
        refused, partial = result.timepoints[date].refused, result.timepoints[date].partial_search
        if refused is not None:  # its known lesions were found at their places; nothing else was looked for
            console.print(f"[yellow]{date}: {refusal_warning(refused)}[/yellow]")
        elif partial is not None:  # targets found, but inside a brain mask that left part of the brain out
            console.print(f"[yellow]{date}: {partial_search_warning(partial)}[/yellow]")
        if not result.lesion_objects(date):
            console.print(f"[yellow]{date}: {nothing_measured_note(ingested.case, date)}[/yellow]")
            for note in result.timepoints[date].notes:
                console.print(f"  {note}")
        for warning in events.get(date, []):
            console.print(f"[yellow]{date}: {warning}[/yellow]")
        for les in result.lesion_objects(date):
            m = les.measurement
            ml = (m.enhancing_volume_mm3 or 0) / 1000
            console.print(
                f"{date} {les.id}: {m.long_mm} × {m.perp_mm} mm, enhancing {ml:.2f} mL"
                f"{' (new)' if les.new else ''}{'' if m.measurable else ' — not measurable'}"
                # what found it and how far to rely on it: a low-confidence target is one to check first
                + (f" — {les.found_by}" if les.found_by else "")
            )
    for when, reason in result.skipped:
        console.print(f"[yellow]{when}: not assessed:[/yellow] {reason}")
    for name, path in written.items():
        console.print(f"wrote {name}: {path}")


@app.command()
def criteria(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding case.yaml (lesions reported per timepoint).")],
    name: Annotated[
        str | None,
        typer.Option("--criteria", help="RANO | mRANO | RANO 2.0 | iRANO | RANO-BM (default: the one that fits)."),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="bidimensional | unidimensional | volumetric (default: criterion's).")
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print every rule applied at every scan.")] = False,
) -> None:
    """Print the per-scan response calls of one criterion over the case's timeline (lesions from case.yaml)."""
    from rich.table import Table

    from .criteria import assess_criterion, choose_criterion, criterion_name
    from .ingest import read_case_yaml

    with _errors():
        case, _ = read_case_yaml(case_dir)
        if name is None:
            chosen, why = choose_criterion(case)
        else:
            chosen, why = criterion_name(name), "asked for"
        result = assess_criterion(case, chosen, method=method)
    console.print(f"{result.criterion} ({why}); measurement: {result.method}")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    table = Table("date", "category", "vs baseline", "vs nadir", "window", "progression dated", "in retrospect")
    for c in result.calls:
        m = c.as_mapping()
        table.add_row(
            m["date"],
            m["category"],
            "" if m["pct_change_vs_baseline"] is None else f"{m['pct_change_vs_baseline']:+.1f} %",
            "" if m["pct_change_vs_nadir"] is None else f"{m['pct_change_vs_nadir']:+.1f} %",
            "" if m["within_pseudoprogression_window"] is None else str(m["within_pseudoprogression_window"]).lower(),
            m["progression_date"] or "",
            m["in_retrospect"] or "",
        )
    Console().print(table)
    if explain:
        for c in result.calls:
            Console().print(f"[bold]{c.date}[/bold] {c.category.value}")
            for line in c.explanation:
                Console().print(f"  • {line}")
    if result.reason:
        console.print(f"[yellow]{result.reason}[/yellow]")


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="A case folder, or an image folder of DICOM/NIfTI files.")],
    allow_root: AllowRoot = None,
) -> None:
    """List the series found and how each was classified (and why)."""
    from rich.table import Table

    from .ingest import ingest_case, scan_images

    with _errors():
        if (path / "case.yaml").exists():
            result = ingest_case(path, allow_roots=allow_root or ())
            groups = [(tp.date.isoformat(), tp.series) for tp in result.case.timepoints]
            warnings = result.warnings
        else:
            scan = scan_images(path)
            groups, warnings = [(path.name, scan.series)], scan.warnings
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


def _report_maps(written, warnings) -> None:
    for name, path, unit in written:
        console.print(f"wrote {name} ({unit}): {path}", markup=False)
    for w in warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


@maps_app.command("dce")
def maps_dce(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="DCE DICOM folder, or NIfTI with JSON sidecar.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for the NIfTI maps and parameters JSON.")],
    aif_mask: Annotated[
        Path | None, typer.Option("--aif-mask", help="NIfTI mask of arterial voxels (any grid of the session).")
    ] = None,
    aif: Annotated[
        str, typer.Option("--aif", help="auto (arterial voxels) | population (Parker 2006), when no --aif-mask")
    ] = "auto",
    model: Annotated[str, typer.Option("--model", help="extended_tofts | tofts | patlak")] = "extended_tofts",
    t10_ms: Annotated[
        float | None,
        typer.Option(
            "--t10-ms",
            help="Native T1 (ms) to assume everywhere when no VFA series (one multi-angle series or one series per "
            "flip angle) is beside the dynamic one; without it and without VFA: exit 3.",
        ),
    ] = None,
    contrast_agent: Annotated[
        str | None,
        typer.Option(
            "--contrast-agent",
            help="The agent given (gadobutrol, Dotarem, Gd-DTPA …): decides r1 with the field strength; overrides "
            "the header's ContrastBolusAgent. Unknown or absent: r1 4.5 /mM/s, stated as an assumption.",
        ),
    ] = None,
    field_strength_t: Annotated[
        float | None,
        typer.Option("--field-strength-t", min=0.2, max=11.7, help="Field strength (T) when the header lacks it."),
    ] = None,
) -> None:
    """Ktrans, ve, vp and fit-quality maps (VFA series in the same folder give native T1)."""
    from .case import SeriesKind
    from .perfusion.from_series import dce_from_series, load_mask_on, series_for_input, write_map_set

    with _errors():
        series, others = series_for_input(input_path, SeriesKind.DCE, SeriesKind.VFA_T1)
        mask = load_mask_on(aif_mask, series) if aif_mask is not None else None
        ms = dce_from_series(
            series,
            others[SeriesKind.VFA_T1],
            aif_mask=mask,
            aif=aif,  # type: ignore[arg-type]
            model=model,  # type: ignore[arg-type]
            t10_s=None if t10_ms is None else t10_ms / 1000.0,
            contrast_agent=contrast_agent,
            field_strength_t=field_strength_t,
        )
        written = write_map_set(ms, out)
    _report_maps(written, ms.warnings)


@maps_app.command("asl")
def maps_asl(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="ASL DICOM folder, or NIfTI with JSON sidecar.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
) -> None:
    """CBF (ml/100 g/min) with the white-paper model; the M0 series is looked for beside the ASL series."""
    from .case import SeriesKind
    from .perfusion.from_series import asl_from_series, series_for_input, write_map_set

    with _errors():
        series, others = series_for_input(input_path, SeriesKind.ASL, SeriesKind.M0)
        ms = asl_from_series(series, others[SeriesKind.M0])
        written = write_map_set(ms, out)
    _report_maps(written, ms.warnings)


@maps_app.command("adc")
def maps_adc(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="DWI DICOM folder, or NIfTI with .bval/JSON.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
) -> None:
    """ADC (mm²/s) from two or more b-values (mono-exponential, b ≥ 200 when possible)."""
    from .case import SeriesKind
    from .diffusion.from_series import adc_from_series
    from .perfusion.from_series import series_for_input, write_map_set

    with _errors():
        series, _ = series_for_input(input_path, SeriesKind.DWI)
        ms = adc_from_series(series)
        written = write_map_set(ms, out)
    _report_maps(written, ms.warnings)


@maps_app.command("tram")
def maps_tram(
    input_path: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="Early post-contrast T1 (DICOM folder or NIfTI), or a folder of both."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    delayed: Annotated[
        Path | None, typer.Option("--delayed", help="Delayed (≥ 60 min) post-contrast T1, if not beside INPUT.")
    ] = None,
) -> None:
    """Delayed-minus-early contrast maps: clearance (tumour-like) vs accumulation (treatment-like)."""
    from .case import SeriesKind
    from .perfusion.from_series import series_for_input, tram_from_series, write_map_set

    with _errors():
        early, others = series_for_input(input_path, SeriesKind.T1C, SeriesKind.T1C_DELAYED)
        if delayed is not None:
            late, _ = series_for_input(delayed, SeriesKind.T1C_DELAYED)
        elif others[SeriesKind.T1C_DELAYED]:
            late = others[SeriesKind.T1C_DELAYED][0]
        else:
            raise CannotAssessError("no delayed post-contrast T1 beside INPUT; give it with --delayed")
        ms = tram_from_series(early, late)
        written = write_map_set(ms, out)
    _report_maps(written, ms.warnings)


@app.command()
def mrs(
    path: Annotated[Path, typer.Argument(help="LCModel .TABLE/.COORD/.CSV, TARQUIN results, .rda, .IMA or DICOM MRS.")],
    max_sd: Annotated[
        float | None, typer.Option("--max-sd", help="Fit-quality limit, % SD (default: the data table's 20 %).")
    ] = None,
) -> None:
    """Print metabolite ratios with their fit quality (fit results), or the voxel geometry (vendor spectra)."""
    from rich.table import Table

    from .ingest.mrs import read_spectrum
    from .spectroscopy import compute_ratios, read_fit_result, sniff_fit_result

    with _errors():
        if sniff_fit_result(path) is not None:
            for fit in read_fit_result(path):
                where = f" voxel {fit.voxel}" if fit.voxel else ""
                table = Table("ratio", "value", "% SD", "from", "status", title=f"{path.name}{where} ({fit.fitter})")
                for r in compute_ratios(fit, max_sd_percent=max_sd):
                    used = "+".join(n for g in r.numerator for n in g.names)
                    if r.denominator is not None:
                        used += " / " + "+".join(r.denominator.names)
                    table.add_row(
                        r.name,
                        f"{r.value:.3f}" if r.value is not None else "—",
                        f"{r.sd_percent:.1f}" if r.sd_percent != float("inf") else "—",
                        used,
                        "ok" if r.accepted else f"refused: {r.refused}",
                    )
                Console().print(table)
        else:
            spec = read_spectrum(path)
            c = spec.grid.centre_ras_mm()
            size = " x ".join(f"{v:.1f}" for v in spec.grid.voxel_size_mm)
            console.print(
                f"{path.name}: {spec.format}, grid {spec.grid.shape}, voxel {size} mm "
                f"({spec.grid.voxel_volume_ml:.2f} ml), "
                f"first voxel centre RAS ({c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}) mm, "
                f"TE {spec.echo_time_ms} ms, {spec.fid.shape[-1]} points, dwell {1e6 * spec.dwell_time_s:.1f} µs; "
                "no fit: ratios need an LCModel or TARQUIN result"
            )


from .cohort.cli import cohort as _cohort  # noqa: E402  (the command lives with its stage)

app.command("cohort")(_cohort)


def _version_callback(value: bool) -> None:
    if value:
        print(f"pseudoprog {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback of an unexpected error.")] = False,
) -> None:
    global _DEBUG
    _DEBUG = debug
    privacy.install()  # no header value quoted in a warning or a log line (pseudoprog.privacy)
    without_hugepage_advice()  # every command's large arrays (pseudoprog.memory)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


from .service.cli import register as _register_service  # noqa: E402  (serve, users, export-labels)

_register_service(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
