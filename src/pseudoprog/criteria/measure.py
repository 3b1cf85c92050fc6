"""Step 2 of a follow-up call: the target burden against the baseline (response) and the nadir (progression).

The burden by the criterion's method drives the call; the other method's numbers (volumetric, or the
criterion's own when volumetric drives) are shown alongside with their own thresholds. A change of
measurement source since baseline is flagged (clinical_rules.md §5.5, §1.9 item 6); RANO-BM also asks
for an absolute increase of ≥ 5 mm in one lesion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..case import LocationVsRT, TreatmentType
from .policy import cite
from .state import Scan, Trigger, WalkState
from .timeline import Burden, burden, format_pct, format_value, lesion_diameter, lesion_gone, months_between, pct_change


@dataclass
class Measured:
    """The burdens of one scan and their comparison with the baseline and the nadir."""

    cur: Burden
    cur_other: Burden
    start: int  # first scan that may be the nadir
    nadir_idx: int | None
    pct_b: float | None
    pct_n: float | None
    baseline: dict[str, Any]
    nadir: dict[str, Any]
    size_pd: bool = False
    volumetric: dict[str, Any] = field(default_factory=dict)  # the other method's numbers alongside


def outside(loc: LocationVsRT, marginal_outside: bool) -> bool:
    """Whether a location counts as outside the 80 % isodose line."""
    return loc is LocationVsRT.OUT_OF_FIELD or (marginal_outside and loc is LocationVsRT.MARGINAL)


def measure(scan: Scan, st: WalkState) -> Measured | str:
    """The burdens and references of the scan, or why it cannot be assessed (a missing target measurement)."""
    run, i, b = scan.run, scan.i, scan.run.b
    cur = burden(scan.les, st.targets, run.method)
    cur_other = burden(scan.les, st.targets, run.other_method)
    if st.targets and cur.value is None:
        if not scan.les:
            return "no lesion measurements reported or measured at this scan"
        return f"target lesion(s) {', '.join(cur.missing)} not measured at this scan ({run.method})"
    start = max(run.pd_ref if i > run.pd_ref else b, st.nadir_start)
    cands = {k: v for k, v in st.values.items() if start <= k < i}
    base_val = st.values.get(b)
    nadir_idx = min(cands, key=lambda k: (cands[k], k)) if cands else None
    nadir_val = cands[nadir_idx] if nadir_idx is not None else None
    value = cur.value if st.targets else None  # without targets there is no burden to compare
    pct_b = pct_change(value, base_val) if (value is not None and base_val is not None) else None
    pct_n = pct_change(value, nadir_val) if (value is not None and nadir_val is not None) else None
    unit, method = cur.unit, run.method
    m = Measured(
        cur=cur,
        cur_other=cur_other,
        start=start,
        nadir_idx=nadir_idx,
        pct_b=pct_b,
        pct_n=pct_n,
        baseline={"date": run.scans[b][0].date.isoformat(), "value": base_val, "unit": unit, "method": method},
        nadir=(
            {"date": run.scans[nadir_idx][0].date.isoformat(), "value": nadir_val, "unit": unit, "method": method}
            if nadir_idx is not None
            else {}
        ),
    )
    if st.targets:
        scan.ex.append(
            f"{cur.name}: {format_value(cur.value, unit)}; baseline {run.scans[b][0].date} "
            f"{format_value(base_val, unit)} ({format_pct(pct_b)}); nadir {m.nadir.get('date')} "
            f"{format_value(nadir_val, unit)} ({format_pct(pct_n)})"
        )
    _source_change(scan, st)
    m.size_pd = _size_progression(scan, st, m)
    m.volumetric = _alongside(scan, st, m)
    return m


def _source_change(scan: Scan, st: WalkState) -> None:
    base_sources = {x.id: x.measurement.source for x in scan.run.scans[scan.run.b][1]}
    by_id = scan.by_id
    changed = sorted(
        f"{tid}: {base_sources.get(tid)} → {by_id[tid].measurement.source}"
        for tid in st.targets
        if tid in by_id and base_sources.get(tid) != by_id[tid].measurement.source and not lesion_gone(by_id[tid])
    )
    if changed:
        scan.flags.append("measurement_source_changed")
        scan.ex.append(
            "caution: target measurements come from a different source than at baseline ("
            + "; ".join(changed)
            + "): one measurement strategy should be used at every timepoint (clinical_rules §5.5, §1.9 item 6)"
        )


def _size_progression(scan: Scan, st: WalkState, m: Measured) -> bool:
    """Whether the burden meets the progression threshold vs the nadir (and RANO-BM's absolute increase)."""
    run, thr = scan.run, scan.run.thr
    if m.pct_n is None or m.pct_n < thr.pd_pct:
        return False
    scan.ex.append(f"size: {format_pct(m.pct_n)} vs nadir ≥ {thr.pd_pct:+g} % → progression threshold met ({run.src})")
    if not (run.policy.absolute_increase and m.nadir_idx is not None):
        return True
    abs_v = run.crit.value("min_absolute_increase_mm")
    nadir_les = {x.id: x for x in run.scans[m.nadir_idx][1]}
    by_id = scan.by_id
    grew = []
    for tid in st.targets:
        now_d = lesion_diameter(by_id[tid]) if tid in by_id else None
        then_d = lesion_diameter(nadir_les[tid]) if tid in nadir_les else 0.0
        if now_d is not None and then_d is not None and now_d - then_d >= abs_v.value:
            grew.append(f"{tid} +{now_d - then_d:.1f} mm")
    if grew:
        scan.ex.append(
            f"absolute increase ≥ {abs_v.value:g} mm in at least one lesion: {', '.join(grew)} "
            f"({abs_v.cite(run.tab.sources)})"
        )
        return True
    scan.ex.append(
        f"no lesion grew by ≥ {abs_v.value:g} mm: the relative increase alone is not progression "
        f"({abs_v.cite(run.tab.sources)})"
    )
    return False


def _alongside(scan: Scan, st: WalkState, m: Measured) -> dict[str, Any]:
    """The other method's numbers and the size category they alone would give."""
    run, other_thr = scan.run, scan.run.other_thr
    if other_thr is None:
        return {}
    ov = m.cur_other.value
    obase = st.other_values.get(run.b)
    ocands = {k: v for k, v in st.other_values.items() if m.start <= k < scan.i}
    onadir = min(ocands.values()) if ocands else None
    if ov is None or obase is None or onadir is None or not st.targets:
        return {"method": run.other_method, "value": ov, "reason": "not measured at this scan or its references"}
    ob, on = pct_change(ov, obase), pct_change(ov, onadir)
    ocat = "PD" if on >= other_thr.pd_pct else ("CR" if ov == 0 else ("PR" if ob <= other_thr.pr_pct else "SD"))
    unit = m.cur_other.unit
    scan.ex.append(
        f"{run.other_method} alongside: {format_value(ov, unit)}, {format_pct(ob)} vs baseline, "
        f"{format_pct(on)} vs nadir → size alone {ocat} (thresholds {other_thr.pr_pct:+g} % / "
        f"{other_thr.pd_pct:+g} %, {run.tab.cite(other_thr.source)} [{other_thr.status}])"
    )
    return {
        "method": run.other_method,
        "value": ov,
        "unit": unit,
        "pct_change_vs_baseline": round(ob, 1),
        "pct_change_vs_nadir": round(on, 1) if on != float("inf") else on,
        "size_category": ocat,
        "thresholds": {"pr_pct": other_thr.pr_pct, "pd_pct": other_thr.pd_pct},
    }


def size_trigger(scan: Scan, st: WalkState, m: Measured) -> Trigger:
    """The size trigger, with the flags of growth that may be treatment effect (after SRS, in the field)."""
    run, by_id = scan.run, scan.by_id
    grown_out = [tid for tid in st.targets if tid in by_id and outside(by_id[tid].location_vs_rt, run.marginal_outside)]
    trigger = Trigger("size", f"target burden {format_pct(m.pct_n)} vs nadir", outside_field=bool(grown_out))
    if run.policy.srs_flag:
        _srs_flag(scan, st.targets)
    elif run.policy.glioma and scan.rt is not None and not scan.rt_window:
        if any(
            by_id[t].location_vs_rt in (LocationVsRT.IN_FIELD, LocationVsRT.MARGINAL) for t in st.targets if t in by_id
        ):
            scan.flags.append("growth_in_irradiated_field")
            scan.ex.append(
                "the growing lesion lies in the irradiated field: late treatment effect (radiation necrosis) "
                "remains possible beyond the 12-week window (clinical_rules §0.3, §3.4)"
            )
    return trigger


def _srs_flag(scan: Scan, targets: tuple[str, ...]) -> None:
    """RANO-BM grades size only: an irradiated metastasis that enlarges may be treatment effect."""
    date = scan.date
    courses = [
        t
        for t in scan.run.case.treatments
        if t.type in (TreatmentType.SRS, TreatmentType.FSRT)
        and t.last_day <= date
        and (t.target is None or any(tid in (t.target or "").replace(" ", "").split(",") for tid in targets))
    ]
    if not courses:
        return
    c = max(courses, key=lambda t: t.last_day)
    months = months_between(c.last_day, date)
    scan.flags.append("treatment_effect_possible_after_srs")
    scan.ex.append(
        f"the enlarging lesion was treated with {c.type.value.upper()} on {c.last_day} ({months:.1f} months ago): "
        "enlargement after radiosurgery may be radiation necrosis or other treatment effect — RANO-BM grades size "
        f"only; adjudicate with perfusion, PET or tissue ({cite('lin2015')} [UNVERIFIED]; clinical_rules §2.8, §3.3)"
    )
