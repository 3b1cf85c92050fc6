"""The response state machine shared by the RANO family, walked scan by scan over a case's timeline.

Each criterion module (:mod:`.rano`, :mod:`.mrano`, :mod:`.rano2`, :mod:`.irano`, :mod:`.rano_bm`)
describes its rules as a :class:`Policy` and its numbers in ``data/criteria.yaml``; this module
applies them in order. Calls are *prospective*: the call at a scan uses only that scan and the
earlier ones, as a reader would have made it on the day; what later scans showed is added as
``in_retrospect`` (confirmed, or pseudoprogression) and as a back-dated ``progression_date``.

Order of the rules at each follow-up scan (clinical_rules.md §1.3–§1.7, §5.7):

1. progression already established in this treatment line → PD stays PD;
2. target burden (SPD / SLD / volume) against the baseline (response) and the nadir (progression);
3. new lesions (definite, equivocal, non-measurable), non-target progression, T2/FLAIR, clinical status;
4. a pending preliminary/unconfirmed PD is confirmed or turned into pseudoprogression (nadir reset);
5. otherwise the progression triggers pass through the criterion's window and confirmation rules;
6. otherwise CR / PR / SD with the steroid, clinical and 4-week confirmation conditions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..case import (
    Case,
    ClinicalStatus,
    FlairChange,
    HistologyResult,
    Lesion,
    LocationVsRT,
    Timepoint,
    Treatment,
    TreatmentType,
)
from .rules import CriterionTable, Thresholds, criteria_table
from .timeline import (
    METHODS,
    Burden,
    Category,
    Confirmation,
    CriterionResult,
    TimepointCall,
    burden,
    format_pct,
    format_value,
    immunotherapy_start,
    last_radiation,
    lesion_diameter,
    lesion_gone,
    lesion_size,
    measurability,
    months_between,
    pct_change,
)

ADJUVANT_GAP_DAYS = 56  # [DERIVED] chemotherapy starting ≤ 8 weeks after radiotherapy ends continues that line


@dataclass(frozen=True)
class Policy:
    """The rules that distinguish one criterion from another (the numbers live in criteria.yaml)."""

    name: str  # name reported ("RANO", "mRANO", "RANO 2.0", "iRANO", "RANO-BM")
    table: str  # criteria.yaml entry holding the thresholds
    baseline: str  # "rano2010" | "post_radiotherapy" | "pre_treatment"
    window_rule: str = "none"  # "forbid" (RANO 2010) | "preliminary" (RANO 2.0) | "none"
    confirm_all_pd: bool = False  # mRANO: every first PD is preliminary
    confirm_after_window: bool = False  # RANO 2.0 option: confirmation also after the 12-week window
    irano: bool = False
    use_flair: bool = False
    new_lesion_must_be_measurable: bool = False
    immunotherapy_new_lesions_not_pd: bool = False
    steroid_backdate: bool = False
    srs_flag: bool = False
    absolute_increase: bool = False
    glioma: bool = True
    unverified: tuple[str, ...] = ()  # rules of this criterion implemented from [UNVERIFIED] text


@dataclass
class _Trigger:
    kind: str  # size | new_lesion | nontarget | flair | clinical
    text: str
    outside_field: bool = False
    backdate: dt.date | None = None


@dataclass
class _Pending:
    index: int
    date: dt.date
    value: float | None
    category: Category
    kinds: tuple[str, ...]
    new_ids: tuple[str, ...]


@dataclass
class _State:
    targets: tuple[str, ...] = ()
    nontargets: tuple[str, ...] = ()
    reference_ids: set[str] = field(default_factory=set)
    nadir_start: int = 0
    values: dict[int, float] = field(default_factory=dict)
    other_values: dict[int, float] = field(default_factory=dict)
    pending_pd: _Pending | None = None
    response_since: dt.date | None = None
    cr_since: dt.date | None = None
    equivocal_since: dict[str, dt.date] = field(default_factory=dict)
    nonmeasurable_new: set[str] = field(default_factory=set)
    steroid_increase: dt.date | None = None
    progression: dt.date | None = None  # date PD was established (back-dated where the criterion says so)
    progression_seen: dt.date | None = None  # the scan at which PD was established
    window_call: int | None = None  # the last "PD not allowed: within window" scan awaiting its outcome


# ---------------------------------------------------------------------------------------------
# Baseline choice (clinical_rules.md §1.9 items 1-2, §6 C17)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """The current line of treatment: its first treatment and the radiation course in it (if any)."""

    first: Treatment
    radiation: Treatment | None
    treatments: tuple[Treatment, ...]


def current_line(case: Case, on: dt.date) -> Line | None:
    """The most recent treatment line begun on or before ``on``.

    A non-surgical treatment opens a new line unless it starts during a radiation course
    (concurrent) or is chemotherapy starting within 8 weeks of a radiation course's end
    (adjuvant) — an engineering rule, [DERIVED].
    """
    lines: list[list[Treatment]] = []
    for t in sorted(case.treatments, key=lambda t: t.start):
        if t.type in (TreatmentType.SURGERY, TreatmentType.BIOPSY) or t.start > on:
            continue
        if lines:
            rads = [x for x in lines[-1] if x.type.is_radiation]
            concurrent = any(r.start <= t.start <= r.last_day for r in rads)
            adjuvant = t.type is TreatmentType.CHEMOTHERAPY and any(
                0 <= (t.start - r.last_day).days <= ADJUVANT_GAP_DAYS for r in rads
            )
            if concurrent or adjuvant:
                lines[-1].append(t)
                continue
        lines.append([t])
    if not lines:
        return None
    ts = lines[-1]
    rads = [t for t in ts if t.type.is_radiation]
    return Line(first=ts[0], radiation=max(rads, key=lambda t: t.last_day) if rads else None, treatments=tuple(ts))


def choose_baseline(
    case: Case, dates: Sequence[dt.date], policy: Policy, table: CriterionTable
) -> tuple[int, int, list[str]]:
    """Index of the baseline scan, index from which the progression nadir counts, and the reasons."""
    notes: list[str] = []
    line = current_line(case, dates[-1])
    if line is None:
        surgeries = [t.start for t in case.treatments if t.start <= dates[-1]]
        after = [i for i, d in enumerate(dates) if surgeries and d >= max(surgeries)]
        b = after[0] if after else 0
        notes.append(f"baseline {dates[b]}: first scan after the last recorded treatment (no non-surgical line)")
        return b, b, notes
    start = line.first.start
    pre = [i for i, d in enumerate(dates) if d <= start]
    post_rt = [i for i, d in enumerate(dates) if d >= line.radiation.last_day] if line.radiation is not None else []
    after_start = [i for i, d in enumerate(dates) if d > start]
    what = f"{line.first.type.value} starting {start}"
    if policy.baseline == "post_radiotherapy" and post_rt:
        b = post_rt[0]
        notes.append(
            f"baseline {dates[b]}: first scan after radiotherapy ended "
            f"{line.radiation.last_day if line.radiation else ''}"
            f" — the post-radiotherapy scan is the baseline ({_cite(policy.table)}; clinical_rules §1.4–1.5, §6 C17)"
        )
        return b, b, notes
    if pre:
        b = pre[-1]
        notes.append(f"baseline {dates[b]}: last scan on or before the current line ({what})")
        if policy.baseline == "pre_treatment" and "baseline_max_days_before_treatment" in table.values:
            limit = table.value("baseline_max_days_before_treatment")
            gap = (start - dates[b]).days
            if gap > limit.value:
                notes.append(
                    f"caution: the baseline is {gap} days before treatment; RANO-BM asks for ≤ {limit.value:g} days "
                    f"({limit.cite(criteria_table().sources)})"
                )
    elif after_start:
        b = after_start[0]
        notes.append(f"baseline {dates[b]}: no scan before the current line ({what}); the first scan after it is used")
    else:
        b = 0
        notes.append(f"baseline {dates[0]}: first scan")
    pd_ref = b
    if policy.baseline == "rano2010" and line.radiation is not None and post_rt and post_rt[0] > b:
        pd_ref = post_rt[0]
        notes.append(
            f"progression is measured from the first post-radiotherapy scan {dates[pd_ref]} (or a later, smaller one) "
            f"({_cite('wen2010_12w')} [V]); response from the baseline {dates[b]}"
        )
    return b, pd_ref, notes


def _cite(key: str) -> str:
    tab = criteria_table()
    if key in tab.criteria:
        return tab.cite(tab[key].source)
    return tab.cite(key)


# ---------------------------------------------------------------------------------------------
# The walk over the timeline
# ---------------------------------------------------------------------------------------------


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
    method = method or crit.measure or "bidimensional"
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method not in crit.thresholds:
        raise ValueError(f"{policy.name} defines no {method} thresholds; use one of {', '.join(crit.thresholds)}")
    thr = crit.threshold(method)
    other_method = "volumetric" if method != "volumetric" else (crit.measure or "bidimensional")
    other_thr = crit.thresholds.get(other_method)
    tps = case.timepoints
    scans: list[tuple[Timepoint, tuple[Lesion, ...]]] = [
        (tp, tuple((lesions or {}).get(tp.date, tp.lesions))) for tp in tps
    ]
    header = [f"{policy.name}: {crit.title} ({tab.cite(crit.source)}); call driven by {method} measurement"]
    if policy.unverified:
        header.append("rules implemented from [UNVERIFIED] text (clinical_rules §1): " + "; ".join(policy.unverified))

    def whole(reason: str, category: Category = Category.CANNOT_ASSESS) -> CriterionResult:
        calls = tuple(
            TimepointCall(date=tp.date, category=category, role="follow-up", explanation=(reason,), reason=reason)
            for tp, _ in scans
        )
        return CriterionResult(policy.name, crit.title, method, calls, tuple(header), reason)

    if policy.irano:
        imm = immunotherapy_start(case, tps[-1].date)
        if imm is None:
            return whole(
                "iRANO does not apply: no immunotherapy is recorded before the latest scan", Category.NOT_APPLICABLE
            )
    if not any(ls for _, ls in scans):
        return whole("no lesion measurements were reported or measured at any scan: nothing to compare")
    dates = [tp.date for tp, _ in scans]
    b, pd_ref, base_notes = choose_baseline(case, dates, policy, crit)
    header.extend(base_notes)
    st = _State()
    _base_tp, base_les = scans[b]
    # Target lesions at baseline (explicit choice in the input wins; else the largest measurable).
    meas = {les.id: _measurable(les, crit, method) for les in base_les}
    unmeasured = [
        les.id
        for les in base_les
        if les.enhancing
        and not lesion_gone(les)
        and lesion_size(les, method) is None
        and les.measurement.measurable is not False
        and les.component not in ("cystic", "cavity_wall")
    ]
    if unmeasured:
        return whole(
            f"baseline {dates[b]}: enhancing lesion(s) {', '.join(unmeasured)} reported without a {method} "
            "measurement — measurability cannot be decided without a size"
        )
    explicit = [les.id for les in base_les if les.target]
    if explicit:
        targets = sorted(explicit)
        for tid in targets:
            if not meas[tid][0]:
                header.append(f"caution: target {tid} was chosen in the input but is not measurable ({meas[tid][1]})")
    else:
        cands = [les for les in base_les if meas[les.id][0]]
        cands.sort(key=lambda les: (-(_size_or_zero(les, method)), les.id))
        max_t = int(crit.value("max_targets").value)
        targets = sorted(les.id for les in cands[:max_t])
    st.targets = tuple(targets)
    st.nontargets = tuple(sorted(les.id for les in base_les if les.id not in targets and not lesion_gone(les)))
    st.reference_ids = {les.id for les in base_les if not lesion_gone(les)}  # enhancing disease at baseline
    if targets:
        header.append(
            f"target lesions at baseline: {', '.join(targets)} ({method}; measurable = "
            + "; ".join(f"{t}: {meas[t][1]}" for t in targets)
            + f"; up to {int(crit.value('max_targets').value)} largest, {crit.value('max_targets').cite(tab.sources)})"
        )
    else:
        why = "; ".join(f"{k}: {v[1]}" for k, v in sorted(meas.items())) or "no lesion reported"
        header.append(
            "no measurable disease at baseline (" + why + "): CR and PR cannot be assigned; only progression "
            "(new lesions, non-target progression, clinical) is assessed"
        )
    if st.nontargets:
        header.append("non-target lesions: " + ", ".join(st.nontargets))

    base_burden = burden(base_les, st.targets, method)
    base_other = burden(base_les, st.targets, other_method)
    calls: list[TimepointCall] = []
    for i, (tp, _les) in enumerate(scans):
        if i < b:
            calls.append(
                TimepointCall(
                    date=tp.date,
                    category=Category.BEFORE_BASELINE,
                    role="before baseline",
                    explanation=(f"before the baseline {dates[b]}: not used by {policy.name}",),
                )
            )
            continue
        if i == b:
            if st.targets and base_burden.value is None:
                why_not = f"baseline target lesion(s) {', '.join(base_burden.missing)} have no {method} measurement"
                return whole(why_not)
            if base_burden.value is not None:
                st.values[i] = base_burden.value
            if base_other.value is not None:
                st.other_values[i] = base_other.value
            calls.append(
                TimepointCall(
                    date=tp.date,
                    category=Category.BASELINE,
                    role="baseline",
                    explanation=tuple(header),
                    burden={method: base_burden.value, other_method: base_other.value},
                    window=_window(case, tp.date, policy, tab),
                    within_pseudoprogression_window=_in_window(case, tp.date, policy, tab),
                )
            )
            continue
        call, retro = _follow_up(
            case,
            scans,
            i,
            b,
            pd_ref,
            st,
            policy,
            crit,
            method,
            thr,
            other_method,
            other_thr,
            marginal_counts_as_outside,
        )
        if st.window_call is not None and call.category not in (Category.PD_WITHIN_WINDOW, Category.CANNOT_ASSESS):
            if call.category is Category.PD:
                retro[st.window_call] = f"progression declared on {call.date}"
            elif call.category.severity is not None and call.category.severity <= 2:
                retro[st.window_call] = f"not followed by progression on {call.date} ({call.category.value})"
            st.window_call = None
        if call.category is Category.PD_WITHIN_WINDOW:
            st.window_call = i
        for idx, text in retro.items():
            calls[idx] = replace(calls[idx], in_retrospect=text)
        calls.append(call)
    reason: str | None = None
    if len(calls) == b + 1:
        reason = f"only the baseline scan ({dates[b]}): no follow-up to assess yet"
        calls[b] = replace(calls[b], explanation=(*calls[b].explanation, reason), reason=reason)
    return CriterionResult(policy.name, crit.title, method, tuple(calls), tuple(header), reason)


def _measurable(les: Lesion, crit: CriterionTable, method: str) -> tuple[bool, str]:
    """Measurability of a lesion with the criterion's minimum sizes."""
    v = crit.values
    return measurability(
        les,
        method,
        min_diameter_mm=v["measurable.min_diameter_mm"].value,
        min_perpendicular_mm=v["measurable.min_perpendicular_mm"].value
        if "measurable.min_perpendicular_mm" in v
        else None,
        min_volume_mm3=v["measurable.min_volume_mm3"].value if "measurable.min_volume_mm3" in v else None,
    )


def _size_or_zero(les: Lesion, method: str) -> float:
    s = lesion_size(les, method)
    return 0.0 if s is None else s


def _window(case: Case, date: dt.date, policy: Policy, tab) -> dict[str, object]:
    out: dict[str, object] = {}
    rt = last_radiation(case, date)
    if rt is not None:
        out["radiotherapy_end"] = rt.last_day.isoformat()
        out["radiotherapy_type"] = rt.type.value
        out["weeks_since_radiotherapy"] = round((date - rt.last_day).days / 7.0, 1)
    if (policy.glioma and policy.window_rule != "none") or policy.confirm_all_pd:
        crit = tab[policy.table]
        if "pseudoprogression_window_weeks" in crit.values:
            out["window_weeks"] = crit.value("pseudoprogression_window_weeks").value
    imm = immunotherapy_start(case, date)
    if imm is not None:
        out["immunotherapy_start"] = imm.isoformat()
        out["months_since_immunotherapy_start"] = round(months_between(imm, date), 1)
        out["irano_window_months"] = tab["iRANO"].value("immunotherapy_window_months").value
    return out


def _in_window(case: Case, date: dt.date, policy: Policy, tab) -> bool | None:
    """Whether a scan is inside the criterion's pseudoprogression window (None: the criterion has none)."""
    states: list[bool] = []
    if policy.glioma:
        rt = last_radiation(case, date)
        crit = tab[policy.table]
        if rt is not None and "pseudoprogression_window_weeks" in crit.values:
            states.append((date - rt.last_day).days / 7.0 < crit.value("pseudoprogression_window_weeks").value)
    if policy.irano or policy.immunotherapy_new_lesions_not_pd:
        imm = immunotherapy_start(case, date)
        if imm is not None:
            states.append(months_between(imm, date) <= tab["iRANO"].value("immunotherapy_window_months").value)
    return any(states) if states else None


def _histology_tumour(case: Case, date: dt.date, since: dt.date | None) -> dt.date | None:
    for tp in case.timepoints:
        if tp.date <= date and (since is None or tp.date > since) and tp.histology_result is HistologyResult.TUMOUR:
            return tp.date
    return None


def _follow_up(
    case: Case,
    scans: list[tuple[Timepoint, tuple[Lesion, ...]]],
    i: int,
    b: int,
    pd_ref: int,
    st: _State,
    policy: Policy,
    crit: CriterionTable,
    method: str,
    thr: Thresholds,
    other_method: str,
    other_thr: Thresholds | None,
    marginal_outside: bool,
) -> tuple[TimepointCall, dict[int, str]]:
    tab = criteria_table()
    tp, les = scans[i]
    base_tp = scans[b][0]
    date = tp.date
    ex: list[str] = []
    flags: list[str] = []
    retro: dict[int, str] = {}
    src = tab.cite(thr.source) + f" [{thr.status}]"
    window = _window(case, date, policy, tab)
    in_window = _in_window(case, date, policy, tab)
    rt = last_radiation(case, date)
    weeks_rt = None if rt is None else (date - rt.last_day).days / 7.0
    win_weeks = (
        crit.value("pseudoprogression_window_weeks").value if "pseudoprogression_window_weeks" in crit.values else None
    )
    rt_window = bool(policy.glioma and weeks_rt is not None and win_weeks is not None and weeks_rt < win_weeks)
    by_id = {les_.id: les_ for les_ in les}

    def make(category: Category, **kw: object) -> TimepointCall:
        return TimepointCall(
            date=date,
            category=category,
            role="follow-up",
            explanation=tuple(ex),
            window=window,
            within_pseudoprogression_window=in_window,
            flags=tuple(dict.fromkeys(flags)),
            **kw,  # type: ignore[arg-type]  # keyword fields of TimepointCall, checked by the dataclass
        )

    # 2. Burden and references.
    cur = burden(les, st.targets, method)
    cur_other = burden(les, st.targets, other_method)
    if st.targets and cur.value is None:
        if not les:
            reason = "no lesion measurements reported or measured at this scan"
        else:
            reason = f"target lesion(s) {', '.join(cur.missing)} not measured at this scan ({method})"
        ex.append("cannot assess: " + reason + " — a missing measurement is never replaced by a guess")
        return make(Category.CANNOT_ASSESS, reason=reason), retro
    start = pd_ref if i > pd_ref else b
    start = max(start, st.nadir_start)
    cands = {k: v for k, v in st.values.items() if start <= k < i}
    base_val = st.values.get(b)
    nadir_idx = min(cands, key=lambda k: (cands[k], k)) if cands else None
    nadir_val = cands[nadir_idx] if nadir_idx is not None else None
    pct_b = pct_change(cur.value, base_val) if (cur.value is not None and base_val is not None and st.targets) else None
    pct_n = (
        pct_change(cur.value, nadir_val) if (cur.value is not None and nadir_val is not None and st.targets) else None
    )
    unit = cur.unit
    baseline_info = {"date": scans[b][0].date.isoformat(), "value": base_val, "unit": unit, "method": method}
    nadir_info = (
        {"date": scans[nadir_idx][0].date.isoformat(), "value": nadir_val, "unit": unit, "method": method}
        if nadir_idx is not None
        else {}
    )
    if st.targets:
        ex.append(
            f"{cur.name}: {format_value(cur.value, unit)}; baseline {scans[b][0].date} {format_value(base_val, unit)} "
            f"({format_pct(pct_b)}); nadir {nadir_info.get('date')} {format_value(nadir_val, unit)} "
            f"({format_pct(pct_n)})"
        )
    base_sources = {x.id: x.measurement.source for x in scans[b][1]}
    changed = sorted(
        f"{tid}: {base_sources.get(tid)} → {by_id[tid].measurement.source}"
        for tid in st.targets
        if tid in by_id and base_sources.get(tid) != by_id[tid].measurement.source and not lesion_gone(by_id[tid])
    )
    if changed:
        flags.append("measurement_source_changed")
        ex.append(
            "caution: target measurements come from a different source than at baseline ("
            + "; ".join(changed)
            + "): one measurement strategy should be used at every timepoint (clinical_rules §5.5, §1.9 item 6)"
        )
    size_pd = pct_n is not None and pct_n >= thr.pd_pct
    if size_pd:
        ex.append(f"size: {format_pct(pct_n)} vs nadir ≥ {thr.pd_pct:+g} % → progression threshold met ({src})")
        if policy.absolute_increase and nadir_idx is not None:
            abs_v = crit.value("min_absolute_increase_mm")
            nadir_les = {x.id: x for x in scans[nadir_idx][1]}
            grew = []
            for tid in st.targets:
                now_d = lesion_diameter(by_id[tid]) if tid in by_id else None
                then_d = lesion_diameter(nadir_les[tid]) if tid in nadir_les else 0.0
                if now_d is not None and then_d is not None and now_d - then_d >= abs_v.value:
                    grew.append(f"{tid} +{now_d - then_d:.1f} mm")
            if grew:
                ex.append(
                    f"absolute increase ≥ {abs_v.value:g} mm in at least one lesion: {', '.join(grew)} "
                    f"({abs_v.cite(tab.sources)})"
                )
            else:
                size_pd = False
                ex.append(
                    f"no lesion grew by ≥ {abs_v.value:g} mm: the relative increase alone is not progression "
                    f"({abs_v.cite(tab.sources)})"
                )
    # Volumetric (or the other method) alongside.
    vol: dict[str, object] = {}
    if other_thr is not None:
        ov = cur_other.value
        obase = st.other_values.get(b)
        ocands = {k: v for k, v in st.other_values.items() if start <= k < i}
        onadir = min(ocands.values()) if ocands else None
        if ov is not None and obase is not None and onadir is not None and st.targets:
            ob, on = pct_change(ov, obase), pct_change(ov, onadir)
            ocat = "PD" if on >= other_thr.pd_pct else ("CR" if ov == 0 else ("PR" if ob <= other_thr.pr_pct else "SD"))
            vol = {
                "method": other_method,
                "value": ov,
                "unit": cur_other.unit,
                "pct_change_vs_baseline": round(ob, 1),
                "pct_change_vs_nadir": round(on, 1) if on != float("inf") else on,
                "size_category": ocat,
                "thresholds": {"pr_pct": other_thr.pr_pct, "pd_pct": other_thr.pd_pct},
            }
            ex.append(
                f"{other_method} alongside: {format_value(ov, cur_other.unit)}, {format_pct(ob)} vs baseline, "
                f"{format_pct(on)} vs nadir → size alone {ocat} (thresholds {other_thr.pr_pct:+g} % / "
                f"{other_thr.pd_pct:+g} %, {tab.cite(other_thr.source)} [{other_thr.status}])"
            )
        else:
            vol = {"method": other_method, "value": ov, "reason": "not measured at this scan or its references"}

    triggers: list[_Trigger] = []
    if size_pd:
        grown_out = [
            tid for tid in st.targets if tid in by_id and _outside(by_id[tid].location_vs_rt, marginal_outside)
        ]
        triggers.append(_Trigger("size", f"target burden {format_pct(pct_n)} vs nadir", outside_field=bool(grown_out)))
        if policy.srs_flag:
            _srs_flag(case, date, st.targets, ex, flags)
        elif policy.glioma and rt is not None and not rt_window:
            if any(
                by_id[t].location_vs_rt in (LocationVsRT.IN_FIELD, LocationVsRT.MARGINAL)
                for t in st.targets
                if t in by_id
            ):
                flags.append("growth_in_irradiated_field")
                ex.append(
                    "the growing lesion lies in the irradiated field: late treatment effect (radiation necrosis) "
                    "remains possible beyond the 12-week window (clinical_rules §0.3, §3.4)"
                )

    # 3. New lesions, non-target progression, FLAIR, clinical.
    new_ids: list[str] = []
    imm = immunotherapy_start(case, date)
    for les_ in sorted(les, key=lambda x: x.id):
        if lesion_gone(les_):
            continue
        is_new = les_.id not in st.reference_ids or les_.new
        pending_eq = st.equivocal_since.get(les_.id)
        pending_nm = les_.id in st.nonmeasurable_new
        if not (is_new or pending_eq or pending_nm):
            continue
        if les_.id in st.targets or les_.id in st.nontargets:
            continue
        if les_.equivocal:
            st.equivocal_since.setdefault(les_.id, date)
            ex.append(
                f"new lesion {les_.id} is equivocal: not progression yet; if confirmed later, progression is "
                f"dated to {st.equivocal_since[les_.id]} ({_cite('lin2015')} [V] footnote)"
            )
            flags.append("equivocal_new_lesion")
            continue
        if policy.new_lesion_must_be_measurable:
            ok, why = _measurable(les_, crit, "bidimensional")
            if not ok:
                st.nonmeasurable_new.add(les_.id)
                ex.append(
                    f"new lesion {les_.id} is not measurable ({why}): RANO 2.0 counts new measurable lesions "
                    f"as progression; followed ({_cite('rano2_assist')} [V2])"
                )
                flags.append("new_nonmeasurable_lesion")
                continue
        loc = les_.location_vs_rt
        backdate = pending_eq if pending_eq is not None and pending_eq < date else None
        text = f"new enhancing lesion {les_.id} ({loc.value} vs radiation field)"
        if backdate is not None:
            text += f", confirmed after an equivocal first appearance on {backdate}"
        new_ids.append(les_.id)
        triggers.append(_Trigger("new_lesion", text, outside_field=_outside(loc, marginal_outside), backdate=backdate))
        if policy.window_rule == "forbid" and not rt_window and rt is not None and not _outside(loc, marginal_outside):
            ex.append(
                f"note: new lesion {les_.id} is not outside the radiation field; the RANO 12-week table lists "
                "new enhancement outside the field after 12 weeks, the response table counts any new lesion — "
                "the response table is applied (clinical_rules §1.3.2 vs §1.3.3)"
            )
    for tid in st.nontargets:
        if tid in by_id and by_id[tid].unequivocal_progression:
            triggers.append(
                _Trigger(
                    "nontarget",
                    f"unequivocal progression of non-target lesion {tid}",
                    outside_field=_outside(by_id[tid].location_vs_rt, marginal_outside),
                )
            )
    if policy.use_flair:
        if tp.flair_change is FlairChange.INCREASED:
            s0, s1 = base_tp.steroids_mg_dexamethasone, tp.steroids_mg_dexamethasone
            if s0 is not None and s1 is not None and s1 < s0:
                ex.append(
                    "T2/FLAIR increase while steroids were tapered: not counted as progression "
                    f"(RANO requires stable or rising steroids; {_cite('wen2010')} [V2])"
                )
            else:
                triggers.append(
                    _Trigger("flair", "significant T2/FLAIR non-enhancing increase not due to other causes")
                )
        elif tp.flair_change is FlairChange.INCREASED_OTHER_CAUSE:
            ex.append("T2/FLAIR increase attributed to other causes: not progression")
        elif tp.flair_change is FlairChange.UNKNOWN:
            ex.append("T2/FLAIR change not reported: the non-enhancing rule could not be checked")
    elif tp.flair_change is FlairChange.INCREASED:
        ex.append(
            f"T2/FLAIR increase recorded but not a progression criterion in {policy.name} "
            f"({_cite(policy.table)}; clinical_rules §1.4–1.5)"
        )
    clin = tp.clinical_status
    if clin is ClinicalStatus.WORSE:
        triggers.append(_Trigger("clinical", "clinical deterioration attributed to the tumour"))
    elif clin is ClinicalStatus.WORSE_OTHER_CAUSE:
        ex.append("clinical worsening attributed to another cause: not progression")
    elif clin is ClinicalStatus.UNKNOWN:
        ex.append("clinical status not reported: the clinical conditions could not be checked")
    hist = _histology_tumour(case, date, rt.last_day if (rt is not None and policy.glioma) else None)
    if hist is not None:
        ex.append(
            f"histology on {hist} showed viable tumour: progression may be declared without waiting "
            f"({_cite('wen2010_12w')} [V])"
        )
    for tp2 in case.timepoints:
        if tp2.date == date and tp2.histology_result is HistologyResult.TREATMENT_EFFECT:
            ex.append(
                "histology at this date showed treatment effect; the criteria are imaging-based and are not "
                "overridden, but the finding weighs against progression (clinical_rules §6 C12)"
            )
            flags.append("histology_treatment_effect")

    common = {
        "burden": {method: cur.value, other_method: cur_other.value},
        "baseline": baseline_info,
        "nadir": nadir_info,
        "pct_change_vs_baseline": pct_b,
        "pct_change_vs_nadir": pct_n,
        "volumetric": vol,
        "new_lesions": tuple(new_ids),
        "progression_triggers": tuple(t.text for t in triggers),
    }
    steroid_back = st.steroid_increase if policy.steroid_backdate else None

    def established(when: dt.date, conf: Confirmation, extra: list[dt.date] | None = None) -> TimepointCall:
        dates_ = [when] + [d for d in (extra or []) if d is not None]
        if steroid_back is not None:
            dates_.append(steroid_back)
            ex.append(
                f"progression dated to the first steroid increase on {steroid_back} "
                f"({_cite('rano2_assist')} [V2], quoting RANO 2.0)"
            )
        pdate = min(dates_)
        st.progression, st.progression_seen = pdate, date
        return make(Category.PD, confirmation=conf, progression_date=pdate, **common)

    # 1. Progression already established in this line (numbers above are still reported).
    if st.progression is not None:
        ex.append(
            f"progression was established on {st.progression_seen} (dated {st.progression}); within the same "
            "treatment line later scans do not revise it (a new line starts a new baseline)"
        )
        common["progression_triggers"] = ()
        return make(
            Category.PD, confirmation=Confirmation.CONFIRMED, **{**common, "progression_date": st.progression}
        ), retro

    # 4. A pending preliminary / unconfirmed PD meets its confirmation scan.
    if st.pending_pd is not None:
        pend = st.pending_pd
        days = (date - pend.date).days
        key = "pd_confirmation_days" if "pd_confirmation_days" in crit.values else None
        min_days_v = crit.value(key) if key else tab["iRANO"].value("pd_confirmation_days")
        if policy.irano:
            min_days_v = tab["iRANO"].value("pd_confirmation_days")
        by: list[str] = []
        if clin is ClinicalStatus.WORSE:
            by.append("clinical deterioration")
        if hist is not None:
            by.append(f"histology of viable tumour ({hist})")
        early = days < min_days_v.value
        by_imaging: list[str] = []
        if pend.value is not None and cur.value is not None and st.targets:
            p = pct_change(cur.value, pend.value)
            ex.append(f"vs the {pend.category.value} scan {pend.date}: {format_pct(p)}")
            if p >= thr.pd_pct:
                by_imaging.append(f"further growth {format_pct(p)} ≥ {thr.pd_pct:+g} % vs {pend.date}")
        later_new = [n for n in new_ids if n not in pend.new_ids]
        if later_new:
            by_imaging.append("new lesion(s) " + ", ".join(later_new))
        if "new_lesion" in pend.kinds:
            persisting = [n for n in pend.new_ids if n in by_id and not lesion_gone(by_id[n])]
            if persisting:
                by_imaging.append("the new lesion(s) " + ", ".join(persisting) + " persist [DERIVED]")
        if "nontarget" in pend.kinds:
            still = [n for n in st.nontargets if n in by_id and by_id[n].unequivocal_progression]
            if still:
                by_imaging.append("non-target lesion(s) " + ", ".join(still) + " still progressing [DERIVED]")
        if not early:
            by.extend(by_imaging)
        if not by and early:
            ex.append(
                f"{days} days after the {pend.category.value} scan: shorter than the {min_days_v.value:g}-day "
                f"confirmation interval ({min_days_v.cite(tab.sources)}); still awaiting confirmation"
            )
            conf = Confirmation.PRELIMINARY if pend.category is Category.PD_PRELIMINARY else Confirmation.UNCONFIRMED
            if cur.value is not None:
                st.values[i] = cur.value
            return make(pend.category, confirmation=conf, **common), retro
        if by:
            ex.append(
                f"{pend.category.value} of {pend.date} confirmed by "
                + "; ".join(by)
                + f" → PD, dated to {pend.date} ({_confirm_source(policy)})"
            )
            retro[pend.index] = f"PD confirmed on {date}"
            st.pending_pd = None
            return established(pend.date, Confirmation.CONFIRMED), retro
        ex.append(
            f"{pend.category.value} of {pend.date} not confirmed (no further growth, no new lesion, no "
            f"clinical decline) → pseudoprogression; the nadir is reset to this scan ({_confirm_source(policy)})"
        )
        retro[pend.index] = f"pseudoprogression (not confirmed on {date})"
        flags.append("pseudoprogression_not_confirmed_pd")
        st.pending_pd = None
        st.nadir_start = i
        st.reference_ids |= {x.id for x in les if not lesion_gone(x)}
        triggers = []
        common["progression_triggers"] = ()
        size_pd = False
        if nadir_idx is not None:
            common["nadir"] = {
                "date": date.isoformat(),
                "value": cur.value,
                "unit": unit,
                "method": method,
                "reset": "pseudoprogression",
            }
            common["pct_change_vs_nadir"] = 0.0 if cur.value is not None else None
            pct_n = 0.0

    # 5. Progression triggers through the window and confirmation rules.
    if triggers:
        kinds = tuple(dict.fromkeys(t.kind for t in triggers))
        ex.append("progression criteria met: " + "; ".join(t.text for t in triggers))
        backdates = [t.backdate for t in triggers if t.backdate is not None]
        imaging = [t for t in triggers if t.kind != "clinical"]
        clinical = any(t.kind == "clinical" for t in triggers)
        outside = [t for t in imaging if t.outside_field]
        if cur.value is not None:
            st.values[i] = cur.value
        if cur_other.value is not None:
            st.other_values[i] = cur_other.value
        if hist is not None:
            return established(date, Confirmation.NOT_REQUIRED, backdates), retro
        if (rt_window and policy.window_rule in ("forbid", "preliminary")) or (
            rt_window and policy.confirm_all_pd and not imaging
        ):
            if outside:
                ex.append(
                    f"{weeks_rt:.1f} weeks after radiotherapy, but the new or growing enhancement lies outside "
                    f"the 80 % isodose line: progression may be declared ({_cite('wen2010_12w')} [V])"
                )
                return established(date, Confirmation.NOT_REQUIRED, backdates), retro
            if not imaging:
                ex.append(
                    f"{weeks_rt:.1f} weeks after radiotherapy (< {win_weeks:g}): clinical decline alone is not "
                    f"sufficient for progression in this window ({_cite('wen2010_12w')} [V]); repeat imaging"
                )
                flags.append("within_rt_window")
                return make(Category.PD_WITHIN_WINDOW, confirmation=Confirmation.UNCONFIRMED, **common), retro
            if policy.window_rule == "forbid":
                locs = sorted(
                    {by_id[t].location_vs_rt.value for t in st.targets if t in by_id}
                    | {by_id[n].location_vs_rt.value for n in new_ids}
                )
                ex.append(
                    f"{weeks_rt:.1f} weeks after radiotherapy (< {win_weeks:g}) and the enhancement is not shown "
                    "to lie "
                    f"outside the 80 % isodose line (location: {', '.join(locs) or 'unknown'}), no histology: "
                    f"progression cannot be declared — within the pseudoprogression window; repeat imaging "
                    f"({_cite('wen2010_12w')} [V]; clinical_rules §4.4)"
                )
                flags.append("within_rt_window")
                return make(Category.PD_WITHIN_WINDOW, confirmation=Confirmation.UNCONFIRMED, **common), retro
            ex.append(
                f"{weeks_rt:.1f} weeks after radiotherapy (< {win_weeks:g}): preliminary progression; a confirmation "
                f"scan is needed unless histology or new disease clearly outside the high-dose field "
                f"({_cite(policy.table)} [UNVERIFIED])"
            )
            flags.append("within_rt_window")
            st.pending_pd = _Pending(i, date, cur.value, Category.PD_PRELIMINARY, kinds, tuple(new_ids))
            return make(Category.PD_PRELIMINARY, confirmation=Confirmation.PRELIMINARY, **common), retro
        if (policy.confirm_all_pd or (policy.confirm_after_window and not rt_window)) and imaging:
            if clinical:
                ex.append(
                    f"imaging progression with clinical deterioration: confirmed without a further scan "
                    f"({_confirm_source(policy)})"
                )
                return established(date, Confirmation.CONFIRMED, backdates), retro
            ex.append(
                f"first scan meeting the progression thresholds: preliminary PD, to be confirmed by a scan "
                f"≥ {crit.value('pd_confirmation_days').value:g} days later ({_confirm_source(policy)})"
            )
            st.pending_pd = _Pending(i, date, cur.value, Category.PD_PRELIMINARY, kinds, tuple(new_ids))
            return make(Category.PD_PRELIMINARY, confirmation=Confirmation.PRELIMINARY, **common), retro
        on_immuno = imm is not None
        if policy.immunotherapy_new_lesions_not_pd and on_immuno and kinds == ("new_lesion",):
            ex.append(
                f"on immunotherapy (since {imm}) new lesions alone do not define progression "
                f"({_cite('lin2015')} [V]); awaiting confirmation"
            )
            st.pending_pd = _Pending(i, date, cur.value, Category.PD_UNCONFIRMED, kinds, tuple(new_ids))
            return make(Category.PD_UNCONFIRMED, confirmation=Confirmation.UNCONFIRMED, **common), retro
        if policy.irano and imm is not None:
            months = months_between(imm, date)
            wmax = tab["iRANO"].value("immunotherapy_window_months")
            if months <= wmax.value and not clinical:
                rec = tab["iRANO"].value("recommended_confirmation_weeks")
                ex.append(
                    f"{months:.1f} months after starting immunotherapy (≤ {wmax.value:g}) and not clinically worse: "
                    f"unconfirmed PD — continue therapy and repeat imaging (about {rec.value:g} weeks, "
                    f"{rec.cite(tab.sources)}); iRANO ({wmax.cite(tab.sources)})"
                )
                st.pending_pd = _Pending(i, date, cur.value, Category.PD_UNCONFIRMED, kinds, tuple(new_ids))
                return make(Category.PD_UNCONFIRMED, confirmation=Confirmation.UNCONFIRMED, **common), retro
            if months <= wmax.value:
                ex.append("significant clinical decline overrides the iRANO wait [UNVERIFIED]")
            else:
                ex.append(
                    f"{months:.1f} months after starting immunotherapy (> {wmax.value:g}): standard criteria apply "
                    "[UNVERIFIED]"
                )
        if policy.glioma and rt is not None and weeks_rt is not None and win_weeks is not None and not rt_window:
            ex.append(f"{weeks_rt:.1f} weeks after radiotherapy (≥ {win_weeks:g}): standard progression rules apply")
        return established(date, Confirmation.NOT_REQUIRED, backdates), retro

    # 6. CR / PR / SD with their conditions.
    if cur.value is not None:
        st.values[i] = cur.value
    if cur_other.value is not None:
        st.other_values[i] = cur_other.value
    s0, s1 = base_tp.steroids_mg_dexamethasone, tp.steroids_mg_dexamethasone
    if not st.targets:
        ex.append(
            "no measurable disease at baseline: without progression the call is SD (CR/PR need measurable "
            f"disease; {_cite('wen2010')} [V2])"
        )
        cat = Category.SD
    elif cur.value == 0:
        blockers = []
        unresolved = [n for n in st.nontargets if n not in by_id or not lesion_gone(by_id[n])]
        if unresolved:
            blockers.append("non-target lesion(s) " + ", ".join(unresolved) + " not shown resolved")
        if st.equivocal_since or st.nonmeasurable_new:
            blockers.append("an equivocal or non-measurable new lesion is being followed")
        if s1 is not None and s1 > 0:
            blockers.append(f"on {s1:g} mg dexamethasone (CR requires no corticosteroids)")
        if s1 is None:
            blockers.append("steroid dose not reported (CR requires none)")
        if blockers:
            ex.append("all target lesions resolved but CR is not met: " + "; ".join(blockers) + " → PR")
            cat = Category.PR
        else:
            ex.append("all enhancing disease resolved, no corticosteroids")
            cat = Category.CR
    elif pct_b is not None and pct_b <= thr.pr_pct:
        ex.append(f"size: {format_pct(pct_b)} vs baseline ≤ {thr.pr_pct:+g} % → partial response threshold met ({src})")
        cat = Category.PR
    else:
        ex.append(f"size: neither ≤ {thr.pr_pct:+g} % vs baseline nor ≥ {thr.pd_pct:+g} % vs nadir → stable ({src})")
        cat = Category.SD
    if cat in (Category.CR, Category.PR) and clin is ClinicalStatus.WORSE_OTHER_CAUSE:
        ex.append("clinically worse (other cause): response requires stable or improved clinical status → SD")
        cat = Category.SD
    # Steroids (clinical_rules §1.5 steroid rule, §4.4 'freeze the response state').
    if s0 is not None and s1 is not None and s1 > s0:
        st.steroid_increase = st.steroid_increase or date
        ex.append(
            f"steroids increased from {s0:g} to {s1:g} mg dexamethasone without tumour-related decline: "
            "an increase alone "
            "is not progression, and the patient is neither SD nor responding until the dose returns to baseline "
            f"({_cite('rano2_assist')} [V2] quoting RANO 2.0; {_cite('lin2015')} [V])"
        )
        st.response_since = st.cr_since = None
        return make(Category.NOT_EVALUABLE_STEROIDS, **common), retro
    if s0 is None or s1 is None:
        ex.append("steroid dose not reported at the baseline or this scan: the steroid conditions were not checked")
    elif st.steroid_increase is not None:
        ex.append(f"steroids back to ≤ baseline (raised on {st.steroid_increase}): assessable again")
        st.steroid_increase = None
    # Confirmation of response (≥ 4 weeks).
    if cat in (Category.CR, Category.PR):
        need = crit.value("response_confirmation_days")
        st.response_since = st.response_since or date
        if cat is Category.CR:
            st.cr_since = st.cr_since or date
        else:
            st.cr_since = None
        since = st.cr_since if cat is Category.CR else st.response_since
        if since is not None and (date - since).days >= need.value:
            ex.append(f"{cat.value} sustained since {since} (≥ {need.value:g} days; {need.cite(tab.sources)})")
            return make(cat, confirmation=Confirmation.CONFIRMED, **common), retro
        if cat is Category.CR and st.response_since is not None and (date - st.response_since).days >= need.value:
            ex.append(
                f"response sustained since {st.response_since} but CR only since {st.cr_since}: confirmed PR, "
                "CR unconfirmed"
            )
            return make(Category.PR, confirmation=Confirmation.CONFIRMED, **common), retro
        ex.append(f"{cat.value} needs confirmation ≥ {need.value:g} days later ({need.cite(tab.sources)})")
        unconf = Category.CR_UNCONFIRMED if cat is Category.CR else Category.PR_UNCONFIRMED
        return make(unconf, confirmation=Confirmation.UNCONFIRMED, **common), retro
    st.response_since = st.cr_since = None
    return make(cat, **common), retro


def _outside(loc: LocationVsRT, marginal_outside: bool) -> bool:
    return loc is LocationVsRT.OUT_OF_FIELD or (marginal_outside and loc is LocationVsRT.MARGINAL)


def _confirm_source(policy: Policy) -> str:
    if policy.irano:
        return f"{_cite('okada2015')} [UNVERIFIED: interval, back-dating]"
    return f"{_cite(policy.table)} [UNVERIFIED]"


def _srs_flag(case: Case, date: dt.date, targets: Sequence[str], ex: list[str], flags: list[str]) -> None:
    """RANO-BM grades size only: an irradiated metastasis that enlarges may be treatment effect."""
    courses = [
        t
        for t in case.treatments
        if t.type in (TreatmentType.SRS, TreatmentType.FSRT)
        and t.last_day <= date
        and (t.target is None or any(tid in (t.target or "").replace(" ", "").split(",") for tid in targets))
    ]
    if not courses:
        return
    c = max(courses, key=lambda t: t.last_day)
    months = months_between(c.last_day, date)
    flags.append("treatment_effect_possible_after_srs")
    ex.append(
        f"the enlarging lesion was treated with {c.type.value.upper()} on {c.last_day} ({months:.1f} months ago): "
        "enlargement after radiosurgery may be radiation necrosis or other treatment effect — RANO-BM grades size "
        f"only; adjudicate with perfusion, PET or tissue ({_cite('lin2015')} [UNVERIFIED]; clinical_rules §2.8, §3.3)"
    )


__all__ = ["Burden", "Line", "Policy", "choose_baseline", "current_line", "evaluate"]
