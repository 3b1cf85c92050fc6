"""The report stage of ``pseudoprog assess``: figures, DICOM objects, then the HTML and PDF report.

Everything is written beside ``assessment.json``:

- ``figures/panel-DATE.png``: the image panel of each timepoint at the lesion (needs a lesion mask);
- ``report-assets.json``: which panels exist (or why not) and the software versions used;
- ``dicom/DATE/``: ``seg-lesions.dcm`` (SEG), ``pm-NAME.dcm`` (Parametric Maps), ``sr-measurements.dcm``
  (TID 1500 SR), for DICOM input only;
- ``report.html`` and ``report.pdf``.

What cannot be produced is recorded in ``not_assessed`` with its reason; nothing is invented. Logs
name the case id and dates, never the patient.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..assessment import Assessment, NotAssessed, TimepointResult
from ..case import Case, LesionMask, Series, Timepoint
from ..errors import CannotAssessError, PseudoprogError
from ..files import write_atomic
from ..forked import beside, can_fork
from ..handoff import TypedMap
from ..ingest import load_series
from ..privacy import describe
from .dicom_pmap import QUANTITIES, write_parametric_map
from .dicom_seg import WrittenSeg, write_lesion_seg
from .dicom_source import SourceStack, load_source_stack
from .dicom_sr import write_measurement_sr
from .html import ASSETS_NAME
from .map_names import canonical_map_name
from .panels import PANEL_MAPS, MapImage, render_panel
from .render import HTML_NAME, PDF_NAME, RenderedReport, render_report_files

log = logging.getLogger(__name__)

_LIBRARIES = ("numpy", "scipy", "nibabel", "pydicom", "highdicom", "SimpleITK", "matplotlib", "jinja2", "weasyprint")
SEG_SERIES_NUMBER = 900
PM_SERIES_NUMBER = 910
SR_SERIES_NUMBER = 930


def software_versions() -> dict[str, str]:
    """pseudoprog, Python and the libraries the results depend on, as installed now."""
    out = {"pseudoprog": __version__, "python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class ReportInputs:
    """What the report stage draws from: the assessment, and the lesion masks and maps held in memory."""

    case: Case
    out_dir: Path
    assessment: Assessment
    masks: Mapping[dt.date, tuple[LesionMask, ...]] = field(default_factory=dict)
    maps: Mapping[dt.date, Sequence[TypedMap]] = field(default_factory=dict)
    not_assessed: list[NotAssessed] = field(default_factory=list)  # what the report stage could not write

    def skip(self, stage: str, reason: str, **kw: Any) -> None:
        self.not_assessed.append(NotAssessed(stage=stage, reason=reason, **kw))

    def result(self, date: dt.date) -> TimepointResult:
        return next(t for t in self.assessment.timepoints if t.date == date)


def _image(m: TypedMap) -> MapImage:
    """A typed map as the panel and DICOM writers take it (float32, 3D)."""
    data = np.asarray(m.array, dtype=np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise CannotAssessError(f"map {m.name} is not 3D (shape {data.shape})")
    return MapImage(name=m.name, data=data, affine=np.asarray(m.affine, dtype=np.float64), unit=m.unit)


def write_panels(
    ctx: ReportInputs, dates: Sequence[dt.date] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The image panel of each timepoint (of those in ``dates``); returns the manifest entries and the outputs."""
    entries: list[dict[str, Any]] = []
    outputs: dict[str, str] = {}
    for tp in ctx.case.timepoints:
        if dates is not None and tp.date not in dates:
            continue
        entry: dict[str, Any] = {"date": tp.date.isoformat(), "path": None}
        entries.append(entry)
        t1c = tp.reference_t1c()
        masks = ctx.masks.get(tp.date, ())
        if t1c is None:
            entry["reason"] = "no post-contrast T1 (T1c) series at this scan"
            continue
        if not masks:
            entry["reason"] = (
                "no lesion mask at this scan (the lesion segmentation stage produced none), so the panel "
                "cannot be placed at the lesion"
            )
            continue
        try:
            volume, _ = load_series(t1c)
            if volume.is_dynamic:
                raise CannotAssessError("the T1c series is 4D")
            maps: dict[str, MapImage] = {}
            for m in ctx.maps.get(tp.date, ()):
                key = canonical_map_name(m.name, PANEL_MAPS)
                if key is not None and key not in maps:
                    maps[key] = _image(m)
            panel = render_panel(volume, masks, maps)  # the report heads it with the date
        except (PseudoprogError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, CannotAssessError) else str(exc)
            entry["reason"] = f"panel not drawn: {reason}"
            ctx.skip("report.panels", entry["reason"], timepoint=tp.date)
            continue
        rel = f"figures/panel-{tp.date.isoformat()}.png"
        write_atomic(ctx.out_dir / rel, panel.png)
        entry.update(
            path=rel,
            caption=panel.caption,
            shown=list(panel.shown),
            missing=list(panel.missing),
            slice_index=panel.slice_index,
        )
        outputs[f"figure_panel_{tp.date.isoformat()}"] = rel
    return entries, outputs


def _panels_alone(
    ctx: ReportInputs, dates: Sequence[dt.date]
) -> tuple[list[dict[str, Any]], dict[str, str], list[NotAssessed]]:
    """:func:`write_panels` with what it could not draw returned, not recorded (it may run in a child process)."""
    own = dataclasses.replace(ctx, not_assessed=[])
    entries, outputs = write_panels(own, dates)
    return entries, outputs, own.not_assessed


def _dicom_alone(ctx: ReportInputs, *, plan: bool = False) -> tuple[dict[str, str], list[NotAssessed]]:
    """:func:`write_dicom_outputs` with what it could not write returned, not recorded (it may run in a child)."""
    own = dataclasses.replace(ctx, not_assessed=[])
    outputs = write_dicom_outputs(own, plan=plan)
    return outputs, own.not_assessed


def _find_series(tp: Timepoint, uid: str | None) -> Series | None:
    if uid is None:
        return None
    return next((s for s in tp.series if s.uid == uid), None)


def write_dicom_outputs(ctx: ReportInputs, *, plan: bool = False) -> dict[str, str]:
    """SEG, Parametric Maps and SR of every timepoint whose T1c is DICOM; reasons for the rest.

    ``plan``: write nothing, and return (and record) what writing would give when every object the case's
    inputs allow is written (an object refused while it is made, or an SR item left out, shows only in writing).
    """
    outputs: dict[str, str] = {}
    sources: dict[str, SourceStack] = {}

    def source_of(series: Series) -> SourceStack | None:
        if plan:
            return None
        if series.uid not in sources:
            sources[series.uid] = load_source_stack(series)
        return sources[series.uid]

    has_dicom = any(s.source_format == "dicom" for tp in ctx.case.timepoints for s in tp.series)
    if not has_dicom:
        ctx.skip(
            "report.dicom",
            "DICOM outputs (SEG, Parametric Map, SR) are written only for DICOM input: this case's images are "
            "not DICOM, so there are no patient, study, frame-of-reference or instance identifiers to reference",
        )
        return outputs
    latest = ctx.case.latest.date
    for order, tp in enumerate(ctx.case.timepoints, start=1):
        day = tp.date.isoformat()
        folder = Path("dicom") / day
        t1c = tp.reference_t1c()
        if t1c is None or t1c.source_format != "dicom":
            ctx.skip("report.dicom", "no DICOM T1c series to reference at this scan", timepoint=tp.date)
            continue
        try:
            source = source_of(t1c)
        except PseudoprogError as exc:
            ctx.skip("report.dicom", f"source T1c unusable for DICOM outputs: {exc}", timepoint=tp.date)
            continue
        seg = _write_seg(ctx, tp, source, folder / "seg-lesions.dcm", outputs)
        _write_maps(ctx, tp, folder, outputs, source_of)
        if source is None:  # planning
            outputs[f"dicom_sr_{day}"] = str(folder / "sr-measurements.dcm")
            continue
        try:
            written = write_measurement_sr(
                source,
                ctx.out_dir / folder / "sr-measurements.dcm",
                case_id=ctx.case.id,
                date=tp.date,
                time_point_order=order,
                lesions=ctx.result(tp.date).lesions,
                markers=list(ctx.result(tp.date).markers),
                software_version=__version__,
                seg=seg,
                response=ctx.assessment.response if tp.date == latest else None,
                probability=ctx.assessment.probability_true_progression if tp.date == latest else None,
                series_number=SR_SERIES_NUMBER,
            )
        except ValueError as exc:
            ctx.skip("report.dicom.sr", f"SR not written: {_named(exc, source)}", timepoint=tp.date)
            continue
        outputs[f"dicom_sr_{day}"] = str(folder / "sr-measurements.dcm")
        for why in written.skipped:
            ctx.skip("report.dicom.sr", f"left out of the SR: {why}", timepoint=tp.date)
    return outputs


def _write_seg(
    ctx: ReportInputs, tp: Timepoint, source: SourceStack | None, rel: Path, outputs: dict[str, str]
) -> WrittenSeg | None:
    masks = ctx.masks.get(tp.date, ())
    if not masks:
        ctx.skip("report.dicom.seg", "no lesion mask at this scan: no SEG written", timepoint=tp.date)
        return None
    if source is None:  # planning
        outputs[f"dicom_seg_{tp.date.isoformat()}"] = str(rel)
        return None
    try:
        seg = write_lesion_seg(
            masks,
            source,
            ctx.out_dir / rel,
            case_id=ctx.case.id,
            software_version=__version__,
            series_number=SEG_SERIES_NUMBER,
        )
    except ValueError as exc:
        ctx.skip("report.dicom.seg", f"SEG not written: {_named(exc, source)}", timepoint=tp.date)
        return None
    outputs[f"dicom_seg_{tp.date.isoformat()}"] = str(rel)
    return seg


def _named(exc: Exception, source: SourceStack | None) -> str:
    """An output's error text with the header value it quotes withheld and its element named (pseudoprog.privacy).

    highdicom copies the patient and study of the source: a malformed PatientBirthDate (1978-02-30) fails there
    as "Unable to convert '1978-02-30' to 'DA' object", which would put the date in assessment.json and the report;
    an impossible one (19780230) as "day is out of range for month", which would not say which element.
    """
    return describe(exc, source.datasets[:1] if source is not None else ())


def _write_maps(
    ctx: ReportInputs,
    tp: Timepoint,
    folder: Path,
    outputs: dict[str, str],
    source_of: Callable[[Series], SourceStack | None],
) -> None:
    for index, m in enumerate(ctx.maps.get(tp.date, ())):
        quantity = canonical_map_name(m.name, QUANTITIES)
        if quantity is None:
            continue  # maps without a DICOM quantity (masks, fit residuals, uncorrected variants) stay NIfTI only
        series = _find_series(tp, m.series_uid)
        if series is None or series.source_format != "dicom":
            ctx.skip(
                "report.dicom.pm",
                f"{m.name}: no DICOM source series recorded for the map, so no Parametric Map",
                timepoint=tp.date,
            )
            continue
        rel = folder / f"pm-{m.name}.dcm"
        source: SourceStack | None = None
        try:
            image = _image(m)
            source = source_of(series)
            if source is None:  # planning
                outputs[f"dicom_pm_{m.name}_{tp.date.isoformat()}"] = str(rel)
                continue
            write_parametric_map(
                image.data,
                image.affine,
                source,
                ctx.out_dir / rel,
                name=quantity,
                unit=m.unit,
                software_version=__version__,
                series_number=PM_SERIES_NUMBER + index,
            )
        except (PseudoprogError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, CannotAssessError) else _named(exc, source)
            ctx.skip("report.dicom.pm", f"{m.name}: Parametric Map not written: {reason}", timepoint=tp.date)
            continue
        outputs[f"dicom_pm_{m.name}_{tp.date.isoformat()}"] = str(rel)


def run_report_stage(ctx: ReportInputs) -> tuple[dict[str, str], list[NotAssessed]]:
    """Write figures, DICOM objects and the report.

    Returns output name → path relative to ``ctx.out_dir``, and what could not be produced (also
    shown in the rendered report, whose outputs list matches ``assessment.json``).
    """
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, str] = {}
    writing: Callable[[], tuple[dict[str, str], list[NotAssessed]]] | None = None
    forking = can_fork()  # else the DICOM objects are written before anything else, and no plan is needed
    if ctx.assessment.scope.in_scope:
        # Three pieces of Python work that would take turns in one process: the DICOM objects (highdicom) are
        # written by one child process, the later timepoints' panels (matplotlib) drawn by another, the earlier
        # ones here; the report is then laid out here (WeasyPrint, whose GLib must stay in this process) from
        # the DICOM objects' plan while the child still writes them, and laid out again in the rare case the
        # written objects differ from the plan. Outputs and reasons are listed as drawing the panels first,
        # then writing the DICOM objects, in one process would list them.
        dates = [tp.date for tp in ctx.case.timepoints]
        here, there = dates[: len(dates) // 2], dates[len(dates) // 2 :]
        writing = beside(partial(_dicom_alone, ctx))
        drawing = beside(partial(_panels_alone, ctx, there))
        panels, panel_outputs, panel_skips = _panels_alone(ctx, here)
        more_panels, more_outputs, more_skips = drawing()
        panels += more_panels
        ctx.not_assessed += panel_skips + more_skips
        outputs.update(panel_outputs)
        outputs.update(more_outputs)
        panels_reason = ""
    else:
        panels, panels_reason = [], "the case is out of scope"
        ctx.skip("report.dicom", "DICOM outputs not written: the case is out of scope")
    assets = {"software": software_versions(), "panels": panels, "panels_reason": panels_reason}
    write_atomic(ctx.out_dir / ASSETS_NAME, json.dumps(assets, indent=1) + "\n")
    if writing is None:
        dicom: tuple[dict[str, str], list[NotAssessed]] = ({}, [])
    else:
        dicom = _dicom_alone(ctx, plan=True) if forking else writing()
    rendered, kept = _render(ctx, outputs, *dicom)
    if writing is not None:
        written = writing()
        if written != dicom:  # an object refused while made, or an SR item left out: the report says so
            rendered, kept = _render(ctx, outputs, *written)
        dicom = written
    ctx.not_assessed += dicom[1] + kept
    outputs.update(dicom[0])
    outputs["report_assets"] = ASSETS_NAME
    outputs.update(rendered.outputs)
    log.info("report written: %d output(s)", len(outputs))  # no case id: it is the patient id
    return outputs, list(ctx.not_assessed)


def _render(
    ctx: ReportInputs, outputs: Mapping[str, str], dicom: Mapping[str, str], dicom_skips: Sequence[NotAssessed]
) -> tuple[RenderedReport, list[NotAssessed]]:
    """The HTML and PDF for these outputs (the DICOM objects' as given), and what the rendering could not make."""
    own = dataclasses.replace(ctx, not_assessed=[*ctx.not_assessed, *dicom_skips])
    planned = {
        "assessment_json": "assessment.json",
        **outputs,
        **dicom,
        "report_assets": ASSETS_NAME,
        "report_html": HTML_NAME,
        "report_pdf": PDF_NAME,
    }
    rendered = render_report_files(_final(own, planned), folder=ctx.out_dir)
    if rendered.pdf_error is not None:
        own.skip("report.pdf", rendered.pdf_error)
        planned.pop("report_pdf")
        rendered = render_report_files(_final(own, planned), folder=ctx.out_dir, pdf=False)
    return rendered, own.not_assessed[len(ctx.not_assessed) + len(dicom_skips) :]


def _final(ctx: ReportInputs, outputs: Mapping[str, str]) -> dict[str, Any]:
    not_assessed = ctx.assessment.not_assessed + tuple(ctx.not_assessed)
    final = dataclasses.replace(ctx.assessment, not_assessed=not_assessed, outputs=dict(outputs))
    return final.to_json_dict()
