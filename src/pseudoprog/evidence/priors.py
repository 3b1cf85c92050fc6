"""Pre-test probability of true progression from the case, and the clinical modifiers (clinical_rules.md §3).

The base rate is chosen by *definition and denominator* (§6 C1): among lesions that enlarged, by tumour
type, as a smooth curve of time since the end of radiotherapy (radiosurgery for metastases) built from the
pooled sources, with an interval spanning their disagreement (no step at 12 weeks, 26 weeks or 9 months).
Modifiers (MGMT, symptoms, steroids, FLAIR, bevacizumab,
location against the field, immunotherapy, fractionation) are likelihood ratios from the sourced table
``data/priors.yaml``; a modifier whose size is not verified is listed with its direction and not applied.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..case import (
    Case,
    ClinicalStatus,
    DiagnosisType,
    FlairChange,
    Lesion,
    LocationVsRT,
    MarkerStatus,
    Timepoint,
    TreatmentType,
)
from .fusion import Contribution, PriorTerm
from .stats import draw_lognormal_ratio, draw_proportion, load_table, wilson_interval

WEEKS_PER_MONTH = 365.25 / 12 / 7
_SRS = (TreatmentType.SRS, TreatmentType.FSRT)
# ICI agents named in case.yaml (lower case); anything else typed `immunotherapy` counts as one agent.
_DUAL_ICI_WINDOW_DAYS = 28  # "concurrent (± 4 weeks)" [V: R35]


@dataclass(frozen=True)
class CaseFacts:
    """What the priors need from a case, computed once for the latest timepoint."""

    scan_date: dt.date
    metastasis: bool
    glioma_grade: str  # "high" | "low" | "" (metastasis)
    weeks_since_rt: float | None
    rt_course: str | None  # the radiation course the time is measured from
    mgmt: str
    idh: str
    clinical: str  # "worse" | "not_worse" | "unknown"
    steroids: str  # "increased" | "not_increased" | "unknown"
    flair: str  # FlairChange value
    bevacizumab: bool
    immunotherapy: bool
    dual_ici: bool
    single_ici: bool
    fractionated: bool
    prior_wbrt: bool
    location: str  # LocationVsRT value, the most tumour-suggestive over the latest lesions
    component: str  # morphology of the latest enhancing lesions: solid | cystic | mixed | unknown
    srs: bool  # the time is measured from a radiosurgery course
    has_histology: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def months_since_rt(self) -> float | None:
        return None if self.weeks_since_rt is None else self.weeks_since_rt / WEEKS_PER_MONTH

    @property
    def glioma(self) -> bool:
        return not self.metastasis


def _glioma_grade(case: Case) -> str:
    d = case.diagnosis
    if d.type is DiagnosisType.METASTASIS:
        return ""
    if d.type is DiagnosisType.LOW_GRADE_GLIOMA or (d.who_grade is not None and d.who_grade <= 2):
        return "low"
    return "high"


def _location(lesions: Sequence[Lesion]) -> str:
    order = [LocationVsRT.OUT_OF_FIELD, LocationVsRT.MARGINAL, LocationVsRT.IN_FIELD]
    present = {les.location_vs_rt for les in lesions if les.enhancing}
    for loc in order:
        if loc in present:
            return loc.value
    return LocationVsRT.UNKNOWN.value


def case_facts(case: Case, *, lesions: Sequence[Lesion] | None = None) -> CaseFacts:
    """Extract the prior-relevant facts for the case's latest timepoint.

    Parameters
    ----------
    case
        The case.
    lesions
        The latest timepoint's lesions as measured by the lesions stage (default: those reported).
    """
    latest: Timepoint = case.latest
    on = latest.date
    metastasis = case.diagnosis.type is DiagnosisType.METASTASIS
    notes: list[str] = []
    # Time: for metastases the radiosurgery course, else any radiation course, ending on or before the scan.
    courses = [t for t in case.radiation_courses() if t.last_day <= on]
    if metastasis:
        srs = [t for t in courses if t.type in _SRS]
        courses = srs or courses
    course = max(courses, key=lambda t: t.last_day) if courses else None
    weeks = None if course is None else (on - course.last_day).days / 7.0
    # Clinical status and steroids against the previous timepoint.
    clinical = {
        ClinicalStatus.WORSE: "worse",
        ClinicalStatus.STABLE: "not_worse",
        ClinicalStatus.IMPROVED: "not_worse",
    }.get(latest.clinical_status, "unknown")
    steroids = "unknown"
    if len(case.timepoints) >= 2:
        prev = case.timepoints[-2].steroids_mg_dexamethasone
        now = latest.steroids_mg_dexamethasone
        if prev is not None and now is not None:
            steroids = "increased" if now > prev else "not_increased"
    before = [t for t in case.treatments if t.start <= on]
    bev = any(t.type is TreatmentType.BEVACIZUMAB for t in before)
    ici = [t for t in before if t.type is TreatmentType.IMMUNOTHERAPY]
    dual = single = False
    if metastasis and course is not None and ici:
        window = dt.timedelta(days=_DUAL_ICI_WINDOW_DAYS)
        near = [
            t for t in ici if t.start <= course.start + window and (t.end is None or t.end >= course.start - window)
        ]
        names: set[str] = set()
        unnamed = 0
        for t in near:
            parts = [a.strip() for a in (t.agent or "").replace("+", ",").split(",") if a.strip()]
            names.update(parts)
            unnamed += 0 if parts else 1
        n_agents = len(names) + unnamed
        dual = n_agents >= 2
        single = n_agents == 1
    fractionated = bool(
        course is not None and course.type in _SRS and course.fractions is not None and 2 <= course.fractions <= 5
    )
    prior_wbrt = bool(
        metastasis
        and course is not None
        and any(t.type is TreatmentType.WBRT and t.last_day <= course.start for t in case.treatments)
    )
    les = tuple(lesions) if lesions is not None else latest.lesions
    components = {x.component for x in les if x.enhancing and x.component}
    component = components.pop() if len(components) == 1 else ("mixed" if components else "unknown")
    if not courses:
        notes.append("no radiation course before the latest scan")
    return CaseFacts(
        scan_date=on,
        metastasis=metastasis,
        glioma_grade=_glioma_grade(case),
        weeks_since_rt=weeks,
        rt_course=None if course is None else f"{course.type.value} ending {course.last_day.isoformat()}",
        mgmt=case.diagnosis.mgmt.value if case.diagnosis.mgmt is not MarkerStatus.UNKNOWN else "unknown",
        idh=case.diagnosis.idh.value,
        clinical=clinical,
        steroids=steroids,
        flair=latest.flair_change.value if latest.flair_change is not FlairChange.UNKNOWN else "unknown",
        bevacizumab=bev,
        immunotherapy=bool(ici),
        dual_ici=dual,
        single_ici=single,
        fractionated=fractionated,
        prior_wbrt=prior_wbrt,
        location=_location(les),
        component=component if component in ("solid", "cystic") else ("unknown" if component == "unknown" else "mixed"),
        srs=bool(course is not None and course.type in _SRS),
        has_histology=any(tp.histology or tp.histology_result is not None for tp in case.timepoints),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Matching table rows to the facts
# ---------------------------------------------------------------------------------------------


def _in_range(x: float | None, bounds: Sequence[float | None]) -> bool:
    if x is None:
        return False
    lo, hi = bounds
    return (lo is None or x >= lo) and (hi is None or x < hi)


def _matches(applies: Mapping[str, Any], f: CaseFacts) -> bool:
    for key, want in applies.items():
        if key == "never":
            return False
        if key == "glioma_grade":
            if f.metastasis or (want != "any" and f.glioma_grade != want):
                return False
        elif key == "glioma":
            if f.glioma != want:
                return False
        elif key == "metastasis":
            if f.metastasis != want:
                return False
        elif key == "no_rt":
            if (f.weeks_since_rt is None) != want:
                return False
        elif key == "weeks_since_rt":
            if not _in_range(f.weeks_since_rt, want):
                return False
        elif key == "months_since_rt":
            if not _in_range(f.months_since_rt, want):
                return False
        elif key in ("mgmt", "idh", "clinical", "steroids", "flair", "location", "component"):
            if getattr(f, key) != want:
                return False
        elif key in ("bevacizumab", "immunotherapy", "dual_ici", "single_ici", "fractionated", "prior_wbrt", "srs"):
            if getattr(f, key) != want:
                return False
        else:
            raise ValueError(f"priors table: unknown condition {key!r}")
    return True


@dataclass(frozen=True)
class ListedModifier:
    """A modifier that applies to the case but has no verified size: listed with its direction, not applied."""

    id: str
    finding: str
    direction: str
    source: str


@dataclass(frozen=True)
class PriorResult:
    prior: PriorTerm
    base_row: Mapping[str, Any]
    modifiers: tuple[Contribution, ...]
    listed: tuple[ListedModifier, ...]
    facts: CaseFacts


def fade_weight(t: float | None, start: float, end: float) -> float:
    """1 up to ``start``, 0 from ``end``, a cosine ramp between (continuous in ``t``; ``None`` gives 0)."""
    if t is None:
        return 0.0
    if t <= start:
        return 1.0
    if t >= end:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * (t - start) / (end - start)))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def curve_at(anchors: Sequence[Sequence[float]], t: float | None) -> tuple[float, float, float]:
    """(p_tp, lo, hi) of a base-rate curve at time ``t``: logit smoothstep between anchors, flat outside.

    The cubic smoothstep 3u² - 2u³ has zero slope at each anchor, so the curve is C1, monotone between
    neighbouring anchors and never overshoots them (a prior that only ever sits between sourced values).
    """
    pts = sorted((float(a[0]), float(a[1]), float(a[2]), float(a[3])) for a in anchors)
    if t is None or len(pts) == 1 or t <= pts[0][0]:
        return pts[0][1], pts[0][2], pts[0][3]
    if t >= pts[-1][0]:
        return pts[-1][1], pts[-1][2], pts[-1][3]
    for (t0, *a), (t1, *b) in itertools.pairwise(pts):
        if t0 <= t <= t1:
            u = (t - t0) / (t1 - t0)
            s = u * u * (3.0 - 2.0 * u)
            p, lo, hi = (_expit((1 - s) * _logit(x) + s * _logit(y)) for x, y in zip(a, b, strict=True))
            return p, min(lo, p), max(hi, p)
    raise AssertionError("unreachable: t lies between the first and last anchor")


def choose_base_rate(f: CaseFacts, table: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The base-rate row for the facts (first match in table order) evaluated at the case's time.

    Returns the row with ``p_tp`` and ``ci`` filled in from its curve; ``ValueError`` if none fits.
    """
    rows = (table or load_table("priors.yaml"))["base_rates"]
    for row in rows:
        applies = dict(row["applies"])
        if f.glioma and f.weeks_since_rt is None:
            # No radiation recorded: only the no-RT row (or the low-grade row) fits.
            if not (applies.get("no_rt") or applies.get("glioma_grade") == "low" == f.glioma_grade):
                continue
        elif applies.get("no_rt"):
            continue
        if f.metastasis and f.weeks_since_rt is None:
            break
        if _matches(applies, f):
            when = {"weeks_since_rt": f.weeks_since_rt, "months_since_rt": f.months_since_rt}.get(
                str(row.get("time", "")), None
            )
            p, lo, hi = curve_at(row["anchors"], when)
            return {**row, "p_tp": p, "ci": [lo, hi], "time_value": when}
    if f.metastasis and f.weeks_since_rt is None:
        raise ValueError("no base rate for a metastasis without a radiation course before the scan")
    raise ValueError("no base rate in priors.yaml fits this case")


def _prior_term(row: Mapping[str, Any], rng: np.random.Generator, n_draws: int) -> PriorTerm:
    p = float(row["p_tp"])
    ci = (float(row["ci"][0]), float(row["ci"][1]))
    if "events" in row:
        draws = draw_proportion(rng, n_draws, point=p, k=float(row["events"]), n=float(row["n"]))
    else:
        draws = draw_proportion(rng, n_draws, point=p, ci=ci)
    return PriorTerm(value=p, draws=draws, source=str(row["source"]), row_id=str(row["id"]), interval=ci)


def _modifier(
    row: Mapping[str, Any], rng: np.random.Generator, n_draws: int, *, weeks: float | None = None
) -> Contribution:
    cap = row.get("cap")
    if "tp" in row:
        k1, n1 = (float(x) for x in row["tp"])
        k0, n0 = (float(x) for x in row["te"])
        point = ((k1 + 0.5) / (n1 + 1)) / ((k0 + 0.5) / (n0 + 1))
        draws = rng.beta(k1 + 0.5, n1 - k1 + 0.5, n_draws) / rng.beta(k0 + 0.5, n0 - k0 + 0.5, n_draws)
        how = f"LR = P(finding | TP) / P(finding | treatment effect) = ({k1:g}/{n1:g}) / ({k0:g}/{n0:g}), Jeffreys"
    else:
        point = float(row["lr"])
        ci = (float(row["ci"][0]), float(row["ci"][1]))
        draws = draw_lognormal_ratio(rng, n_draws, point=point, ci=ci) if ci[0] < ci[1] else np.full(n_draws, point)
        how = f"LR {point:g} (95 % CI {ci[0]:g}-{ci[1]:g})"
    if cap is not None:
        lo, hi = float(cap[0]), float(cap[1])
        if not lo <= point <= hi:
            how += f", capped to [{lo:g}, {hi:g}]"
        point = min(max(point, lo), hi)
        draws = np.clip(draws, lo, hi)
    log_point, log_draws = math.log(point), np.log(draws)
    fade = row.get("fade_weeks")
    if fade is not None:
        w = fade_weight(weeks, float(fade[0]), float(fade[1]))
        log_point, log_draws = w * log_point, w * log_draws
        how += (
            f"; counts from the first weeks after RT: weight {w:.2f} at "
            + ("unknown time" if weeks is None else f"{weeks:.1f} weeks")
            + f" (full to {fade[0]:g}, none from {fade[1]:g} weeks)"
        )
    return Contribution(
        name=str(row["id"]),
        value=str(row["finding"]),
        unit=None,
        log_lr=log_point,
        draws=log_draws,
        source=str(row["source"]),
        group=str(row.get("group", row["id"])),
        family="modifier:" + str(row.get("group", row["id"])),  # modifiers are independent unless grouped
        kind="modifier",
        note=how,
    )


def compute_prior(
    facts: CaseFacts,
    *,
    rng: np.random.Generator,
    n_draws: int,
    table: Mapping[str, Any] | None = None,
) -> PriorResult:
    """Base rate and modifiers for the facts, with Monte Carlo draws.

    Parameters
    ----------
    facts
        From :func:`case_facts`.
    rng, n_draws
        Random generator and number of Monte Carlo draws.
    table
        The priors table (default ``data/priors.yaml``).
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    tab = table or load_table("priors.yaml")
    base = choose_base_rate(facts, tab)
    prior = _prior_term(base, rng, n_draws)
    applied: list[Contribution] = []
    listed: list[ListedModifier] = []
    for row in tab["modifiers"]:
        if not _matches(row["applies"], facts):
            continue
        if row.get("lr", 0) is None:
            listed.append(
                ListedModifier(str(row["id"]), str(row["finding"]), str(row["direction"]), str(row["source"]))
            )
            continue
        if row.get("fade_weeks") is not None and fade_weight(facts.weeks_since_rt, *row["fade_weeks"]) == 0.0:
            continue  # outside the window its counts come from: not applied at all
        applied.append(_modifier(row, rng, n_draws, weeks=facts.weeks_since_rt))
    return PriorResult(prior=prior, base_row=base, modifiers=tuple(applied), listed=tuple(listed), facts=facts)


def base_rate_interval_from_counts(row: Mapping[str, Any]) -> tuple[float, float]:  # rows with events/n
    """Wilson interval of a base-rate row with counts (used by the validation report)."""
    return wilson_interval(float(row["events"]), float(row["n"]))
