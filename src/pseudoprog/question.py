"""Does the case ask pseudoprog's question? (issue 12 items 1 and 6; clinical_rules.md §3.1, §4.1).

pseudoprog answers one question: is a *new or enlarging enhancing lesion* after treatment true progression or
treatment effect. The base rates of §3.1 are conditioned on such a lesion, so a probability computed without one
answers a question the images did not ask. This module decides, from the data and not from the ``indication``
default, whether the question exists at the latest scan:

* patients under 18 are out of scope (paediatric tumours are assessed with RAPNO, Erker 2020 Lancet Oncol and
  Fangusaro 2020 Lancet Oncol, and the adult priors of §3 do not apply);
* "enlarging" is decided with the heading criterion's own numbers (burden against the nadir with its progression
  threshold, the absolute increase RANO-BM asks for, new lesions), so the question and the call agree — or with the
  enhancing volume the criteria show beside their own measure, when it grew past its volumetric threshold (both
  volumes measurable): the question is then asked beside a call of SD, and says why;
* a stable, shrinking, resolved or unmeasured lesion, or no lesion, gets no probability and the surveillance route,
  with what the data show; clinical worsening or a steroid increase with stable imaging is said, not weighed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .assessment import ProbabilityEstimate, ResponseCall, Scope
from .case import Case, ClinicalStatus, Lesion, Timepoint, TreatmentType
from .handoff import StageOutput

if TYPE_CHECKING:
    from .criteria.rules import CriterionTable

ADULT_AGE_YEARS = 18  # RANO 2.0 (Wen 2023) is for adult gliomas; paediatric: RAPNO (Erker 2020; Fangusaro 2020)
# RANO-BM asks for an absolute increase of >= 5 mm in one lesion as well as +20 % (Lin 2015, criteria.yaml).
_BASE_OF = {"iRANO": None, "mRANO": "mRANO", "RANO": "RANO", "RANO 2.0": "RANO 2.0", "RANO-BM": "RANO-BM"}


@dataclass(frozen=True)
class Question:
    """Whether the latest scan shows a new or enlarging enhancing lesion, what the data show, and why."""

    asked: bool
    # new lesion | enlarging | stable | shrinking | resolved | no lesion | none found | not measurable | not searched
    finding: str
    reason: str
    notes: tuple[str, ...] = ()
    non_enhancing_progression: bool = False  # the criteria call PD from T2/FLAIR (not the enhancing question)


def age_scope(case: Case) -> Scope | None:
    """Out of scope when the patient is under 18 (None when the age allows assessment or is not given)."""
    age = case.patient.age_years
    if age is not None and age < ADULT_AGE_YEARS:
        return Scope(
            False,
            f"patient aged {age:g} years (under {ADULT_AGE_YEARS}): paediatric brain tumours are assessed with the "
            "RAPNO criteria (Erker 2020; Fangusaro 2020, Lancet Oncol) and paediatric rates of pseudoprogression "
            "and necrosis; pseudoprog's adult RANO criteria and priors do not apply",
        )
    return None


def _enhancing(lesions: Sequence[Lesion]) -> list[Lesion]:
    from .criteria.timeline import lesion_gone

    return [x for x in lesions if x.enhancing and not lesion_gone(x)]


# Fallback when the criteria could not compare: each measurement with its criterion's progression threshold
# (RANO 2010 product +25 %, Wen 2010; RANO-BM diameter +20 %, Lin 2015; volume +40 %, criteria.yaml volumetric).
_FALLBACK = (("product", 25.0), ("diameter", 20.0), ("volume", 40.0))


def _size(x: Lesion, kind: str) -> float | None:
    m = x.measurement
    value = {
        "product": m.bidimensional_product_mm2,
        "diameter": m.longest_diameter_mm,
        "volume": m.enhancing_volume_mm3,
    }[kind]
    return None if value is None else float(value)


def _criterion_growth(response: ResponseCall | None) -> tuple[bool | None, float | None, str]:
    """Enlarging by the heading criterion's numbers: (enlarging, % vs nadir, text); None when not measured."""
    if response is None or not response.reference:
        return None, None, ""
    from .criteria.rules import criteria_table

    ref = response.reference
    method = str(ref.get("method") or "")
    if ref.get("nadir_is_zero"):
        # Regrowth after a complete response only when something measurable is back; a burden of 0 at every
        # scan (lesions too small to measure) says nothing about growth: fall back to the reported sizes.
        burden = (ref.get("burden") or {}).get(method)
        if burden is not None and float(burden) > 0:
            return True, None, "enhancement has returned after a nadir of 0 (regrowth after a complete response)"
        return None, None, ""
    pct = ref.get("pct_change_vs_nadir")
    if pct is None:
        return None, None, ""
    name = _BASE_OF.get(response.criteria, response.criteria)
    if name is None:  # iRANO keeps its base criterion's thresholds
        name = "RANO-BM" if method == "unidimensional" else "RANO"
    tab = criteria_table()[name]
    thr = tab.threshold(method).pd_pct
    enlarging = float(pct) >= thr
    text = f"{float(pct):+.0f} % against the nadir ({method}; {response.criteria} progression threshold {thr:+g} %)"
    if not enlarging:
        by_volume = _volumetric_growth(ref.get("volumetric") or {}, tab)
        if by_volume:
            return True, float(pct), f"{by_volume}, though the {method} burden changed {text}"
    if enlarging and "min_absolute_increase_mm" in tab.values and method == "unidimensional":
        burden = (ref.get("burden") or {}).get(method)
        nadir = (ref.get("nadir") or {}).get("value")
        need = tab.value("min_absolute_increase_mm").value
        if burden is not None and nadir is not None and float(burden) - float(nadir) < need:
            enlarging = False
            text += f", but an absolute increase of {float(burden) - float(nadir):g} mm (< {need:g} mm)"
    return enlarging, float(pct), text


def _volumetric_growth(alongside: Mapping[str, Any], tab: CriterionTable) -> str:
    """Why the enhancing volume shown alongside the criterion's own measure has grown past its progression threshold,
    or "" (not grown, not measured, or too small to measure at the nadir or now).

    A 2-D product can stay under +25 % while an irregular tumour's enhancing volume grows by half or more (TCIA
    Brain-Tumor-Progression 08, at clinical progression: product +8 %, volume +73 %); volume, not 1-D or 2-D size,
    was the one size measure that predicted survival in recurrent malignant glioma (clinical_rules §1.8, R7b), and
    mRANO and RANO 2.0 take +40 % volume as progression. The response call keeps the criterion's own measure; the
    question (is there an enlarging lesion to explain?) is asked on either.
    """
    if alongside.get("method") != "volumetric" or alongside.get("size_category") != "PD":
        return ""
    value, pct = alongside.get("value"), alongside.get("pct_change_vs_nadir")
    if value is None or pct is None or not np.isfinite(float(pct)):
        return ""
    nadir = float(value) / (1.0 + float(pct) / 100.0)  # the criteria give the change, not the nadir itself
    floor = tab.value("measurable.min_volume_mm3").value if "measurable.min_volume_mm3" in tab.values else 0.0
    if min(float(value), nadir) < float(floor):
        return ""
    thr = (alongside.get("thresholds") or {}).get("pd_pct")
    threshold = f"; volumetric progression threshold {float(thr):+g} %" if thr is not None else ""
    return (
        f"the enhancing volume grew {float(pct):+.0f} % against the nadir ({float(nadir) / 1000:.1f} → "
        f"{float(value) / 1000:.1f} cm³{threshold})"
    )


def decide_question(
    case: Case,
    *,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    response: ResponseCall | None = None,
) -> Question:
    """Does the latest scan show a new or enlarging enhancing lesion after treatment?

    Parameters
    ----------
    case
        The case; its latest timepoint is the one asked about.
    lesions
        Lesions per date from the earlier stages (default: those reported in case.yaml).
    response
        The heading criterion's call for the latest scan: its burden against the nadir decides "enlarging".
    """
    les = lesions or {}
    latest = case.latest
    now = _enhancing(les.get(latest.date, latest.lesions))
    earlier = [(tp, _enhancing(les.get(tp.date, tp.lesions))) for tp in case.timepoints[:-1]]
    notes = _clinical_notes(case)
    flags = set((response.reference or {}).get("flags", [])) if response is not None else set()
    category = response.category if response is not None else ""
    flair_pd = _flair_progression(case, response)
    if not now and latest.new_lesions_not_searched:
        # Nothing measured because the scan was not searched (the lesions stage did not assess it): no "no lesion".
        return Question(
            False,
            "not searched",
            f"no enhancing lesion was measured at the latest scan, but it was not searched for lesions "
            f"({latest.new_lesions_not_searched}): read it",
            notes,
            flair_pd,
        )
    if not now and _found_by_automatic_detection_only(latest):
        # Automatic detection's "none found" is not proof that there is none (TCIA Brain-Tumor-Progression 10 at
        # clinical progression: nothing found on either scan, a reader's click gives the lesion with Dice 0.87):
        # neither "no lesion" nor "resolved" — and so no surveillance — until a reader has looked.
        return Question(
            False,
            "none found",
            "no enhancing lesion was found at the latest scan, but only by automatic detection (its 'none found' is "
            "not proof that there is none) and no reader reported or seeded the scan's lesions: read it",
            notes,
            flair_pd,
        )
    if not now:
        had = any(x for _, x in earlier)
        finding = "resolved" if had else "no lesion"
        text = (
            "no enhancing lesion at the latest scan (the earlier enhancing lesion has resolved)"
            if had
            else "no enhancing lesion is reported or measured at any scan"
        )
        return Question(False, finding, text, notes, flair_pd)
    seen = {x.id for _, xs in earlier for x in xs}
    new = [x.id for x in now if x.new or x.equivocal or (earlier and x.id not in seen)]
    if new or flags & {"equivocal_new_lesion", "new_nonmeasurable_lesion"}:
        ids = ", ".join(new) or "reported by the criteria"
        return Question(True, "new lesion", f"new enhancing lesion(s) at the latest scan: {ids}", notes)
    if any(x.unequivocal_progression for x in now):
        return Question(True, "enlarging", "a lesion is reported as unequivocally progressing", notes)
    if not earlier:
        return Question(
            True,
            "single scan",
            "only one scan: whether the enhancing lesion is new or enlarging cannot be checked against an earlier "
            "scan; it is taken as the new or enlarging lesion the request describes",
            notes,
        )
    enlarging, pct, text = _criterion_growth(response)
    if enlarging is None:
        enlarging, pct, text = _reported_growth(case, les)
    if enlarging is None:
        return Question(
            False,
            "not measurable",
            "the enhancing lesion is not measured at the latest scan or at the earlier scans: whether it enlarged "
            "cannot be decided (report its diameters)",
            notes,
            flair_pd,
        )
    if enlarging:
        return Question(True, "enlarging", f"enlarging enhancing lesion: {text}", notes)
    pct_base = (response.reference or {}).get("pct_change_vs_baseline") if response is not None else None
    shrinking = category.startswith(("PR", "CR")) or (pct is not None and pct < 0 and (pct_base or 0) < 0)
    finding = "shrinking" if shrinking else "stable"
    if latest.new_lesions_not_searched or "new_lesions_not_searched" in flags:
        # Not "stable": a new lesion elsewhere would ask the question, and none was looked for.
        return Question(
            False,
            "not searched",
            f"the known enhancing lesion is {finding} ({text}), but new lesions were not looked for at the latest "
            f"scan ({latest.new_lesions_not_searched or 'see the criteria'}): read it for new lesions",
            notes,
            flair_pd,
        )
    return Question(False, finding, f"the enhancing lesion is {finding}: {text}", notes, flair_pd)


def _found_by_automatic_detection_only(tp: Timepoint) -> bool:
    """Whether the scan's lesions come from automatic detection alone: it has images and case.yaml gives no lesion,
    seed or mask for it (a lesion a reader reported as gone, or a reader's seed, is a reader's look)."""
    return bool(tp.series) and not tp.lesions and not tp.seeds and not tp.masks


def _reported_growth(case: Case, les: Mapping[dt.date, Sequence[Lesion]]) -> tuple[bool | None, float | None, str]:
    """Fallback when the criteria could not compare: summed size against the smallest earlier sum."""
    for kind, threshold in _FALLBACK:
        sums: list[float] = []
        for tp in case.timepoints:
            sizes = [_size(x, kind) for x in _enhancing(les.get(tp.date, tp.lesions))]
            known = [s for s in sizes if s is not None]
            sums.append(sum(known) if known and len(known) == len(sizes) else float("nan"))
        latest, prior = sums[-1], [s for s in sums[:-1] if s == s]
        if latest != latest or not prior or min(prior) <= 0:
            continue
        pct = 100.0 * (latest - min(prior)) / min(prior)
        text = f"{pct:+.0f} % summed {kind} against the smallest earlier sum ({threshold:+g} % threshold)"
        return pct >= threshold, pct, text
    return None, None, ""


def _clinical_notes(case: Case) -> tuple[str, ...]:
    latest = case.latest
    notes: list[str] = []
    if latest.clinical_status is ClinicalStatus.WORSE:
        notes.append("the patient is clinically worse")
    if len(case.timepoints) >= 2:
        prev, now = case.timepoints[-2].steroids_mg_dexamethasone, latest.steroids_mg_dexamethasone
        if prev is not None and now is not None and now > prev:
            notes.append(f"dexamethasone rose from {prev:g} to {now:g} mg/day")
    return tuple(notes)


def _flair_progression(case: Case, response: ResponseCall | None) -> bool:
    """The heading criterion calls PD from non-enhancing T2/FLAIR growth (on anti-angiogenic therapy)."""
    if response is None or not response.category.startswith("PD"):
        return False
    text = " ".join(response.explanation).lower()
    bev = any(t.type is TreatmentType.BEVACIZUMAB and t.start <= case.latest.date for t in case.treatments)
    return bev and "t2/flair" in text and "progression criteria met" in text


def no_question_text(question: Question) -> str:
    """The sentence that says what the data show and why no probability is computed."""
    extra = f" ({'; '.join(question.notes)}: weigh clinically, not as imaging progression)" if question.notes else ""
    return (
        f"no probability of true progression: {question.reason}{extra}; the question 'true progression or "
        "treatment effect' needs a new or enlarging enhancing lesion (clinical_rules §3.1)"
    )


def run_question(case: Case, lesions: Mapping[dt.date, Sequence[Lesion]], response: ResponseCall | None) -> StageOutput:
    """The question stage of the flow (after the criteria): the answer in ``results[Question]``."""
    out = StageOutput()
    out.results[Question] = decide_question(case, lesions=lesions, response=response)
    return out


def no_probability(question: Question | None) -> ProbabilityEstimate | None:
    """The null probability, with the reason, when no new or enlarging enhancing lesion asks the question."""
    if question is None or question.asked:
        return None
    return ProbabilityEstimate(value=None, interval=None, label=None, method=no_question_text(question))
