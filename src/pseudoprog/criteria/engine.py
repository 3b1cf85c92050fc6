"""The response state machine shared by the RANO family, walked scan by scan over a case's timeline.

Each criterion module (:mod:`.rano`, :mod:`.mrano`, :mod:`.rano2`, :mod:`.irano`, :mod:`.rano_bm`)
describes its rules as a :class:`Policy` and its numbers in ``data/criteria.yaml``; this module
applies them in order. Calls are *prospective*: the call at a scan uses only that scan and the
earlier ones, as a reader would have made it on the day; what later scans showed is added as
``in_retrospect`` (confirmed, or pseudoprogression) and as a back-dated ``progression_date``.

Order of the rules at each follow-up scan (clinical_rules.md §1.3–§1.7, §5.7), one module per step:

1. progression already established in this treatment line → PD stays PD (:mod:`.progression`);
2. target burden (SPD / SLD / volume) against the baseline (response) and the nadir (progression)
   (:mod:`.measure`);
3. new lesions (definite, equivocal, non-measurable), non-target progression, T2/FLAIR, clinical status
   (:mod:`.findings`);
4. a pending preliminary/unconfirmed PD is confirmed or turned into pseudoprogression (nadir reset)
   (:mod:`.confirmation`);
5. otherwise the progression triggers pass through the criterion's window and confirmation rules
   (:mod:`.progression`);
6. otherwise CR / PR / SD with the steroid, clinical and 4-week confirmation conditions (:mod:`.response`).

The numbers of steps 2 and 3 are computed (and reported) before step 1 is applied. The baseline
and target lesions are chosen once per criterion (:mod:`.baseline`, :mod:`.targets`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..case import Case, Lesion, Timepoint
from .baseline import Line, choose_baseline, current_line
from .confirmation import confirm_pending
from .findings import findings
from .measure import Measured, measure, size_trigger
from .policy import Policy
from .progression import already_established, progression_call
from .response import response_call
from .rules import CriterionTable, criteria_table
from .state import Run, Scan, Trigger, WalkState
from .targets import choose_targets, unmeasured_enhancing
from .timeline import (
    METHODS,
    Burden,
    Category,
    CriterionResult,
    TimepointCall,
    burden,
    immunotherapy_start,
    lesion_size,
)
from .windows import in_window, window_info


def evaluate(
    case: Case,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None,
    policy: Policy,
    *,
    method: str | None = None,
    marginal_counts_as_outside: bool = True,
) -> CriterionResult:
    """Apply one criterion to every scan of ``case``.

    Parameters
    ----------
    case
        The case; ``case.timepoints`` give dates, clinical status, steroids, FLAIR change, histology.
    lesions
        Lesions per scan date (reported or measured); a date missing here falls back to the lesions
        reported in ``case.yaml`` for that timepoint.
    policy
        The criterion's rules.
    method
        ``"bidimensional"``, ``"unidimensional"`` or ``"volumetric"``: the measurement that drives the
        call (default: the criterion's own). The volumetric numbers are always shown alongside.
    marginal_counts_as_outside
        Whether a lesion at the 50–80 % isodose edge counts as "outside the 80 % isodose line" for the
        12-week rule (the rule's wording, clinical_rules §1.3.3, says beyond the 80 % line; default True).
    """
    tab = criteria_table()
    crit = tab[policy.table]
    scans = [(tp, tuple((lesions or {}).get(tp.date, tp.lesions))) for tp in case.timepoints]
    chosen = _driving_method(policy, crit, method)
    fallback = method is None and _volumes_only(scans, chosen) and "volumetric" in crit.thresholds
    method = "volumetric" if fallback else chosen
    header = [f"{policy.name}: {crit.title} ({tab.cite(crit.source)}); call driven by {method} measurement"]
    if fallback:
        # Issue 12 review (vignette 93): a report giving only enhancing volumes is assessable with the criterion's
        # volumetric thresholds (RANO 2.0 / mRANO define them; RANO 2010 / RANO-BM by sphere equivalence,
        # clinical_rules §1.8) rather than "cannot assess".
        vol = crit.thresholds["volumetric"]
        header.append(
            f"only enhancing volumes were reported (no {chosen} size at any scan): the criterion's volumetric "
            f"thresholds drive the call (PD +{vol.pd_pct:g} %, PR {vol.pr_pct:g} %; {tab.cite(vol.source)} "
            f"[{vol.status}]; clinical_rules §1.8)"
        )
    if policy.unverified:
        header.append("rules implemented from [UNVERIFIED] text (clinical_rules §1): " + "; ".join(policy.unverified))

    def whole(reason: str, category: Category = Category.CANNOT_ASSESS) -> CriterionResult:
        calls = tuple(
            TimepointCall(date=tp.date, category=category, role="follow-up", explanation=(reason,), reason=reason)
            for tp, _ in scans
        )
        return CriterionResult(policy.name, crit.title, method, calls, tuple(header), reason)

    if policy.irano and immunotherapy_start(case, case.timepoints[-1].date) is None:
        return whole(
            "iRANO does not apply: no immunotherapy is recorded before the latest scan", Category.NOT_APPLICABLE
        )
    if not any(ls for _, ls in scans):
        return whole("no lesion measurements were reported or measured at any scan: nothing to compare")
    dates = [tp.date for tp, _ in scans]
    b, pd_ref, base_notes = choose_baseline(case, dates, policy, crit)
    header.extend(base_notes)
    base_les = scans[b][1]
    unmeasured = unmeasured_enhancing(base_les, method)
    if unmeasured:
        return whole(
            f"baseline {dates[b]}: enhancing lesion(s) {', '.join(unmeasured)} reported without a {method} "
            "measurement — measurability cannot be decided without a size"
        )
    choice = choose_targets(base_les, crit, method)
    header.extend(choice.notes)
    st = WalkState(targets=choice.targets, nontargets=choice.nontargets, reference_ids=set(choice.reference_ids))
    other_method = "volumetric" if method != "volumetric" else (crit.measure or "bidimensional")
    run = Run(
        case=case,
        scans=scans,
        policy=policy,
        tab=tab,
        crit=crit,
        method=method,
        thr=crit.threshold(method),
        other_method=other_method,
        other_thr=crit.thresholds.get(other_method),
        marginal_outside=marginal_counts_as_outside,
        b=b,
        pd_ref=pd_ref,
    )
    base_burden = burden(base_les, st.targets, method)
    if st.targets and base_burden.value is None:
        return whole(f"baseline target lesion(s) {', '.join(base_burden.missing)} have no {method} measurement")
    calls = _walk(run, st, tuple(header), base_burden)
    reason: str | None = None
    if len(calls) == b + 1:
        reason = f"only the baseline scan ({dates[b]}): no follow-up to assess yet"
        calls[b] = replace(calls[b], explanation=(*calls[b].explanation, reason), reason=reason)
    return CriterionResult(policy.name, crit.title, method, tuple(calls), tuple(header), reason)


def _volumes_only(scans: Sequence[tuple[Any, Sequence[Lesion]]], method: str) -> bool:
    """No enhancing lesion at any scan has a size by ``method``, and every one that lacks it has a volume."""
    if method == "volumetric":
        return False
    missing = [les for _, ls in scans for les in ls if les.id in unmeasured_enhancing([les], method)]
    return (
        bool(missing)
        and all(lesion_size(les, "volumetric") is not None for les in missing)
        and not any(lesion_size(les, method) is not None for _, ls in scans for les in ls)
    )


def _driving_method(policy: Policy, crit: CriterionTable, method: str | None) -> str:
    """The measurement method that drives the call (default: the criterion's own), checked."""
    method = method or crit.measure or "bidimensional"
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method not in crit.thresholds:
        raise ValueError(f"{policy.name} defines no {method} thresholds; use one of {', '.join(crit.thresholds)}")
    return method


def _walk(run: Run, st: WalkState, header: tuple[str, ...], base_burden: Burden) -> list[TimepointCall]:
    """Every scan's call in date order: before baseline, the baseline, then each follow-up."""
    calls: list[TimepointCall] = []
    b = run.b
    for i, (tp, _les) in enumerate(run.scans):
        if i < b:
            calls.append(
                TimepointCall(
                    date=tp.date,
                    category=Category.BEFORE_BASELINE,
                    role="before baseline",
                    explanation=(f"before the baseline {run.scans[b][0].date}: not used by {run.policy.name}",),
                )
            )
        elif i == b:
            calls.append(_baseline_call(run, st, tp, header, base_burden))
        else:
            call, retro = _follow_up(run, st, i)
            retro.update(_window_outcome(st, i, call))
            for idx, text in retro.items():
                calls[idx] = replace(calls[idx], in_retrospect=text)
            calls.append(call)
    return calls


def _baseline_call(
    run: Run, st: WalkState, tp: Timepoint, header: tuple[str, ...], base_burden: Burden
) -> TimepointCall:
    base_other = burden(run.scans[run.b][1], st.targets, run.other_method)
    st.record(run.b, base_burden.value, base_other.value)
    return TimepointCall(
        date=tp.date,
        category=Category.BASELINE,
        role="baseline",
        explanation=header,
        burden={run.method: base_burden.value, run.other_method: base_other.value},
        window=window_info(run.case, tp.date, run.policy, run.tab),
        within_pseudoprogression_window=in_window(run.case, tp.date, run.policy, run.tab),
    )


def _window_outcome(st: WalkState, i: int, call: TimepointCall) -> dict[int, str]:
    """What a call says, in retrospect, about the last 'PD not allowed: within window' scan."""
    retro: dict[int, str] = {}
    if st.window_call is not None and call.category not in (Category.PD_WITHIN_WINDOW, Category.CANNOT_ASSESS):
        if call.category is Category.PD:
            retro[st.window_call] = f"progression declared on {call.date}"
        elif call.category.severity is not None and call.category.severity <= 2:
            retro[st.window_call] = f"not followed by progression on {call.date} ({call.category.value})"
        st.window_call = None
    if call.category is Category.PD_WITHIN_WINDOW:
        st.window_call = i
    return retro


def _follow_up(run: Run, st: WalkState, i: int) -> tuple[TimepointCall, dict[int, str]]:
    """The call at follow-up scan ``i`` (steps 2, 3, then 1, 4, 5, 6), and what it shows of earlier scans."""
    scan = Scan.at(run, i)
    m = measure(scan, st)
    if not isinstance(m, Measured):
        scan.ex.append("cannot assess: " + m + " — a missing measurement is never replaced by a guess")
        return scan.make(Category.CANNOT_ASSESS, reason=m), scan.retro
    triggers: list[Trigger] = [size_trigger(scan, st, m)] if m.size_pd else []
    f = findings(scan, st, triggers)
    scan.fields = {
        "burden": {run.method: m.cur.value, run.other_method: m.cur_other.value},
        "baseline": m.baseline,
        "nadir": m.nadir,
        "pct_change_vs_baseline": m.pct_b,
        "pct_change_vs_nadir": m.pct_n,
        "volumetric": m.volumetric,
        "new_lesions": tuple(f.new_ids),
        "progression_triggers": tuple(t.text for t in f.triggers),
    }
    call = already_established(scan, st)
    if call is None:
        call = confirm_pending(scan, st, m, f)
    if call is None:
        call = progression_call(scan, st, m, f)
    if call is None:
        call = response_call(scan, st, m, f)
    return call, scan.retro


__all__ = ["Burden", "Line", "Policy", "choose_baseline", "current_line", "evaluate"]
