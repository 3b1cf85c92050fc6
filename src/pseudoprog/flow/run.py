"""Runs the stages of the flow for one case (``pseudoprog assess``), with one error policy.

The policy, here and nowhere else: a stage that raises InputError or CannotAssessError is listed in
``not_assessed`` with its name and the reason, and the case goes on to a report. A ValueError or
RuntimeError inside a stage is a programming or data error: it is logged with its traceback and
listed the same way, never shown as a crash. Only a case-level input error (case.yaml, ingest, a
bad site profile) stops the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import privacy
from ..advice import run_advice
from ..assessment import (
    Assessment,
    ProbabilityEstimate,
    Recommendation,
    ResponseCall,
    case_record,
    write_assessment_json,
)
from ..case import Timepoint
from ..criteria.stage import CriteriaOutcome, run_criteria
from ..errors import CannotAssessError, InputError
from ..evidence.evaluate import EvidenceOutcome
from ..evidence.stage import run_evidence
from ..handoff import StageOutput, TimepointOutput
from ..ingest.dicom import file_index
from ..ingest.series import prefetch_dynamic
from ..lesions.stage import reported, run_lesions
from ..memory import without_hugepage_advice
from ..question import Question, run_question
from ..report.deidentify import Deidentifier, deidentify_folder
from ..report.warm import start_warming
from ..threads import blas_in_one_thread, case_threads
from .context import FlowContext
from .publish import staged_folder
from .scope import decide_scope

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
Stage = Callable[[FlowContext], StageOutput]


@contextmanager
def _timed(say: Progress, name: str) -> Iterator[None]:
    """Announce a step, then how long it took (the progress line a user watches)."""
    say(name)
    started = time.perf_counter()
    yield
    say(f"{name} took {time.perf_counter() - started:.1f} s")


def guarded(
    ctx: FlowContext, stage: str, fn: Callable[..., StageOutput], *args: Any, when: dt.date | None = None
) -> None:
    """Run a stage (or one map builder at timepoint ``when``) and merge its output, or record why it could not."""
    try:
        ctx.merge(fn(*args))
    except CannotAssessError as exc:
        ctx.skip(stage, exc.reason, timepoint=when)
    except InputError as exc:
        ctx.skip(stage, str(exc), timepoint=when)
    except (ValueError, RuntimeError) as exc:
        log.exception("stage %s failed", stage)  # never the case id: it is the patient id
        ctx.skip(
            stage, f"failed unexpectedly ({type(exc).__name__}: {exc}); the rest of the case went on", timepoint=when
        )


@dataclass
class _Recording(FlowContext):
    """A view of the run's context for one timepoint's map builders that records what they merge or skip.

    A chain of builders (:func:`pseudoprog.maps.chains`) sees only its timepoint's inputs (its masks, transforms,
    midline and the maps its own chain made so far), so chains can be built side by side; replaying the records
    timepoint by timepoint, builder by builder in the builders' order, gives the run's context exactly what
    building them one after the other would have given.
    """

    events: list[tuple[str, str, Any]] = field(default_factory=list)  # (builder, "merge" | "skip", what)
    builder: str = ""  # the builder running now

    @classmethod
    def of(cls, ctx: FlowContext, tp: Timepoint) -> _Recording:
        rec = cls(ctx.case, ctx.out_dir, ctx.scope, ctx.profile)
        rec.timepoints[tp.date] = at = TimepointOutput()
        at.extend(ctx.at(tp.date))  # a copy: the builders add to this one, not to the run's
        return rec

    def merge(self, out: StageOutput) -> None:
        self.events.append((self.builder, "merge", out))
        super().merge(out)

    def skip(self, stage: str, reason: str, **kw: Any) -> None:
        self.events.append((self.builder, "skip", (stage, reason, kw)))
        super().skip(stage, reason, **kw)


def _replay(ctx: FlowContext, records: Sequence[_Recording], order: Sequence[str]) -> None:
    """The records' events into ``ctx``, builder by builder in ``order`` (a record's own order within a builder)."""
    rank = {name: i for i, name in enumerate(order)}
    events = [
        (rank.get(builder, len(rank)), n, i, what, item)
        for n, rec in enumerate(records)
        for i, (builder, what, item) in enumerate(rec.events)
    ]
    for *_, what, item in sorted(events, key=lambda e: e[:3]):
        if what == "merge":
            ctx.merge(item)
        else:
            stage, reason, kw = item
            ctx.skip(stage, reason, **kw)


# Chains of map builders built at the same time (``threads.case_threads()``, 2 by default): the fits release the
# GIL (numpy, numba, SimpleITK); more threads would only hold more series in memory.


def stage_maps(ctx: FlowContext) -> StageOutput:
    """Every map builder on every timepoint, each guarded alone; then the case's texture table.

    The builders run in independent chains (:func:`pseudoprog.maps.chains`: texture after the DSC whose rCBV it
    reads, every other builder alone), side by side (``case_threads()``), each from its own timepoint's inputs;
    their outputs enter the context timepoint by timepoint, builder by builder, as if built one after the other.
    Chains are taken latest timepoint first (follow-ups carry the larger lesions), the longest chain of each first,
    so one timepoint's texture (pyradiomics: mostly Python, it holds the interpreter) runs beside another chain's
    fits rather than beside the other timepoint's texture at the end.
    """
    from ..maps import BUILDERS, Builder, chains
    from ..markers.texture import TextureTable, write_texture_table

    def build_chain(tp: Timepoint, chain: Sequence[tuple[str, Builder]]) -> _Recording:
        rec = _Recording.of(ctx, tp)
        for name, build in chain:
            rec.builder = name
            guarded(rec, name, build, rec.inputs(tp), when=tp.date)
        return rec

    timepoints = list(ctx.case.timepoints)
    tasks = [(tp, chain) for tp in reversed(timepoints) for chain in chains(BUILDERS)]
    threads = case_threads()
    if len(tasks) > 1 and threads > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="maps") as pool:
            records = list(pool.map(build_chain, *zip(*tasks, strict=True)))
    else:
        records = [build_chain(tp, chain) for tp, chain in tasks]
    order = [name for name, _ in BUILDERS]
    for tp in timepoints:
        _replay(ctx, [rec for (at, _), rec in zip(tasks, records, strict=True) if at is tp], order)
    return write_texture_table(ctx.results_of(TextureTable), ctx.out_dir)


def _response(ctx: FlowContext) -> ResponseCall | None:
    criteria = ctx.result(CriteriaOutcome)
    return criteria.response if criteria else None


def stage_advice(ctx: FlowContext) -> StageOutput:
    """Next step and management pathway (also the route for an out-of-scope case)."""
    evidence, response = ctx.result(EvidenceOutcome), _response(ctx)
    return run_advice(
        ctx.case,
        ctx.scope,
        evidence=evidence,
        response=response,
        lesions=ctx.lesions(),
        markers=ctx.markers(),
        question=ctx.result(Question),
    )


STAGES: list[tuple[str, Stage]] = [
    ("lesions", lambda ctx: run_lesions(ctx.case, ctx.lesions())),
    ("maps", stage_maps),
    ("criteria", lambda ctx: run_criteria(ctx.case_as_searched(), ctx.lesions())),
    ("question", lambda ctx: run_question(ctx.case_as_searched(), ctx.lesions(), _response(ctx))),
    (
        "evidence",
        lambda ctx: run_evidence(
            ctx.case,
            ctx.lesions(),
            ctx.markers(),
            profile=ctx.profile,
            known_warnings=ctx.warnings,
            question=ctx.result(Question),
        ),
    ),
    ("advice", stage_advice),
]


def build_assessment(ctx: FlowContext) -> Assessment:
    criteria, evidence = ctx.result(CriteriaOutcome), ctx.result(EvidenceOutcome)
    diagnosis, treatments = case_record(ctx.case)
    from .. import __version__

    return Assessment(
        case_id=ctx.case.id,
        software_version=__version__,
        scope=ctx.scope,
        timepoints=ctx.timepoint_results(),
        response=criteria.response if criteria else None,
        probability_true_progression=(
            evidence.probability if evidence else ctx.result(ProbabilityEstimate) or ProbabilityEstimate(None, None)
        ),
        evidence=evidence.items if evidence else (),
        recommendation=ctx.result(Recommendation) or Recommendation(next_step=None, rating=None, management=None),
        not_assessed=tuple(ctx.not_assessed),
        warnings=tuple(ctx.warnings),
        other_responses=criteria.others if criteria else (),
        diagnosis=diagnosis,
        treatments=treatments,
        created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )


def assess(
    case_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    progress: Progress | None = None,
    profile: str | Path | None = None,
    allow_roots: Sequence[str | Path] = (),
    deidentify: str | Deidentifier | None = None,
) -> Assessment:
    """Assess one case folder; writes ``assessment.json``, the report, figures and DICOM objects into ``out_dir``.

    ``out_dir`` defaults to ``CASE_DIR/pseudoprog-output``. Outputs are written whole or not at all: into a
    staging folder beside ``out_dir``, swapped in by one rename at the end (see :mod:`pseudoprog.flow.publish`);
    a second run on the same ``out_dir`` while this one holds its lock is refused.
    ``profile`` is a site profile from ``pseudoprog calibrate``: its thresholds replace the literature's.
    ``allow_roots`` are folders outside the case folder that case.yaml's paths may point into.
    ``deidentify`` (``"shift"`` or ``"remove"``: what happens to dates) applies the PS3.15 Basic Profile to every
    DICOM object written and replaces the patient id by a pseudonym in assessment.json, the HTML and the PDF;
    dates in text and file names are shifted alike. A :class:`Deidentifier` may be given instead (a cohort's
    shared secret: the same pseudonyms and shift for every case).
    """
    from ..evidence.calibration import read_profile
    from ..ingest import ingest_case
    from ..report.stage import ReportInputs, run_report_stage

    say = progress or (lambda _msg: None)
    privacy.install()  # no header value quoted in a warning or a log line of the run (pseudoprog.privacy)
    without_hugepage_advice()  # fresh large arrays are cheaper without it (pseudoprog.memory)
    out = Path(out_dir) if out_dir is not None else Path(case_dir) / "pseudoprog-output"
    # A bad option fails first.
    deid = Deidentifier(dates=deidentify) if isinstance(deidentify, str) else deidentify
    if not Path(case_dir).exists():  # before the output folder (by default inside it) is created
        raise InputError("case folder does not exist", file=case_dir, expected="a folder holding case.yaml")
    # Everything is written into a staging folder beside ``out`` and published by one rename at the end; the
    # lock is taken first, so a second run on the same folder is refused before it reads anything. Every DICOM
    # file of the case is parsed once in this run (the file index), large folders by worker processes.
    workers = case_threads()
    with (
        staged_folder(out) as staging,
        file_index(workers=workers if workers > 1 else 0) as index,
        blas_in_one_thread(),  # the run's own threads are its parallelism; same numbers every run
    ):
        with _timed(say, "reading case.yaml and image headers"):
            ingested = ingest_case(Path(case_dir), allow_roots=allow_roots)  # a case-level input error stops here
        index.stop_workers()  # every header is read: the parsing workers are done
        if profile is not None:
            read_profile(profile)  # a bad profile is an InputError before any work
        case = ingested.case
        ctx = FlowContext(
            case, staging, decide_scope(case), Path(profile) if profile else None, list(ingested.warnings)
        )
        ctx.merge(reported(case))
        if not ctx.scope.in_scope:
            ctx.skip("assessment", "out of scope: " + ctx.scope.reason)
        # The dynamic series' pixels (most of the files) are read while the lesions stage computes, and the
        # report's libraries are loaded meanwhile (``report.warm``).
        beside_stages = ctx.scope.in_scope and case_threads() > 1
        reading = prefetch_dynamic(case) if beside_stages else None
        warming = start_warming() if beside_stages else None
        try:
            for name, fn in STAGES if ctx.scope.in_scope else [("advice", stage_advice)]:
                with _timed(say, name):
                    guarded(ctx, name, fn, ctx)
        finally:
            if reading is not None:
                reading.join()  # never left running past the run's index
            if warming is not None:
                warming.join()  # before the report stage forks (a fork copies no running thread)
        assessment = build_assessment(ctx)
        if deid is not None:  # the report, the PDF and the JSON carry a pseudonym, never the patient id
            assessment = replace(assessment, case_id=deid.pseudonym(case.id))
            deid.anchor(case.timepoints[0].date)
            for known in (case.id, *case.patient.dicom_ids):
                deid.forget(known)
        with _timed(say, "writing report"):
            outputs, missing = run_report_stage(ReportInputs(case, staging, assessment, ctx.masks(), ctx.maps()))
        # The report stage may add 'not assessed' items (e.g. no DICOM outputs for NIfTI input).
        outputs = {"assessment_json": "assessment.json", **outputs}
        assessment = replace(assessment, outputs=outputs, not_assessed=assessment.not_assessed + tuple(missing))
        write_assessment_json(assessment, staging / "assessment.json", case_root=Path(case_dir))
        if deid is not None:  # every file of the staging folder, before it is published: nothing identified leaves
            with _timed(say, "de-identifying the outputs"):
                deidentify_folder(staging, staging, deid)
            assessment = replace(assessment, outputs=deid.json(assessment.outputs))
    return assessment
