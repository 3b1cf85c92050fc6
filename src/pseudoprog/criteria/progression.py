"""Steps 1 and 5 of a follow-up call: progression already established, and new progression triggers
passed through the criterion's window and confirmation rules.

The 12-week post-radiotherapy window (RANO 2010 forbids PD in it unless outside the 80 % isodose line
or proven by histology; RANO 2.0 calls it preliminary), mRANO's confirmation of every first PD, and
iRANO's 6-month wait on immunotherapy (clinical_rules.md §1.3–§1.7, §4.4).
"""

from __future__ import annotations

from ..case import Lesion
from .findings import Findings
from .measure import Measured
from .policy import cite, confirm_source
from .state import Pending, Scan, Trigger, WalkState
from .timeline import Category, Confirmation, TimepointCall, months_between


def already_established(scan: Scan, st: WalkState) -> TimepointCall | None:
    """Step 1: within the treatment line PD stays PD (the scan's numbers are still reported)."""
    if st.progression is None:
        return None
    scan.ex.append(
        f"progression was established on {st.progression_seen} (dated {st.progression}); within the same "
        "treatment line later scans do not revise it (a new line starts a new baseline)"
    )
    scan.fields["progression_triggers"] = ()
    return scan.make(
        Category.PD, confirmation=Confirmation.CONFIRMED, **{**scan.fields, "progression_date": st.progression}
    )


def progression_call(scan: Scan, st: WalkState, m: Measured, f: Findings) -> TimepointCall | None:
    """Step 5: the call when progression criteria are met (None when none is)."""
    triggers = f.triggers
    if not triggers:
        return None
    policy = scan.run.policy
    kinds = tuple(dict.fromkeys(t.kind for t in triggers))
    scan.ex.append("progression criteria met: " + "; ".join(t.text for t in triggers))
    backdates = [t.backdate for t in triggers if t.backdate is not None]
    imaging = [t for t in triggers if t.kind != "clinical"]
    st.record(scan.i, m.cur.value, m.cur_other.value)
    if f.hist is not None:
        return scan.established(st, scan.date, Confirmation.NOT_REQUIRED, backdates)
    if scan.rt_window and (policy.window_rule in ("forbid", "preliminary") or (policy.confirm_all_pd and not imaging)):
        return _within_rt_window(scan, st, m, f, imaging, kinds)
    clinical = any(t.kind == "clinical" for t in triggers)
    if (policy.confirm_all_pd or (policy.confirm_after_window and not scan.rt_window)) and imaging:
        if clinical:
            scan.ex.append(
                f"imaging progression with clinical deterioration: confirmed without a further scan "
                f"({confirm_source(policy)})"
            )
            return scan.established(st, scan.date, Confirmation.CONFIRMED, backdates)
        scan.ex.append(
            f"first scan meeting the progression thresholds: preliminary PD, to be confirmed by a scan "
            f"≥ {scan.run.crit.value('pd_confirmation_days').value:g} days later ({confirm_source(policy)})"
        )
        return _pending(scan, st, m, f, Category.PD_PRELIMINARY, kinds)
    immuno = _immunotherapy(scan, st, m, f, kinds, clinical)
    if immuno is not None:
        return immuno
    if policy.glioma and scan.rt is not None and scan.weeks_rt is not None and scan.win_weeks is not None:
        if not scan.rt_window:
            scan.ex.append(
                f"{scan.weeks_rt:.1f} weeks after radiotherapy (≥ {scan.win_weeks:g}): standard progression rules apply"
            )
    return scan.established(st, scan.date, Confirmation.NOT_REQUIRED, backdates)


def _pending(
    scan: Scan, st: WalkState, m: Measured, f: Findings, category: Category, kinds: tuple[str, ...]
) -> TimepointCall:
    """A preliminary or unconfirmed PD, remembered until its confirmation scan."""
    st.pending_pd = Pending(scan.i, scan.date, m.cur.value, category, kinds, tuple(f.new_ids))
    conf = Confirmation.PRELIMINARY if category is Category.PD_PRELIMINARY else Confirmation.UNCONFIRMED
    return scan.make(category, confirmation=conf, **scan.fields)


def _within_rt_window(
    scan: Scan, st: WalkState, m: Measured, f: Findings, imaging: list[Trigger], kinds: tuple[str, ...]
) -> TimepointCall:
    """Progression criteria met within the pseudoprogression window after radiotherapy."""
    policy, weeks, win = scan.run.policy, scan.weeks_rt, scan.win_weeks
    backdates = [t.backdate for t in f.triggers if t.backdate is not None]
    if any(t.outside_field for t in imaging):
        scan.ex.append(
            f"{weeks:.1f} weeks after radiotherapy, but the new or growing enhancement lies outside "
            f"the 80 % isodose line: progression may be declared ({cite('wen2010_12w')} [V])"
        )
        return scan.established(st, scan.date, Confirmation.NOT_REQUIRED, backdates)
    if not imaging:
        scan.ex.append(
            f"{weeks:.1f} weeks after radiotherapy (< {win:g}): clinical decline alone is not "
            f"sufficient for progression in this window ({cite('wen2010_12w')} [V]); repeat imaging"
        )
        scan.flags.append("within_rt_window")
        return scan.make(Category.PD_WITHIN_WINDOW, confirmation=Confirmation.UNCONFIRMED, **scan.fields)
    if policy.window_rule == "forbid":
        scan.ex.append(
            f"{weeks:.1f} weeks after radiotherapy (< {win:g}) and the enhancement is not shown "
            "to lie "
            f"outside the 80 % isodose line (location: {', '.join(_locations(scan, st, f)) or 'unknown'}), no "
            "histology: progression cannot be declared — within the pseudoprogression window; repeat imaging "
            f"({cite('wen2010_12w')} [V]; clinical_rules §4.4)"
        )
        scan.flags.append("within_rt_window")
        return scan.make(Category.PD_WITHIN_WINDOW, confirmation=Confirmation.UNCONFIRMED, **scan.fields)
    scan.ex.append(
        f"{weeks:.1f} weeks after radiotherapy (< {win:g}): preliminary progression; a confirmation "
        f"scan is needed unless histology or new disease clearly outside the high-dose field "
        f"({cite(policy.table)} [UNVERIFIED])"
    )
    scan.flags.append("within_rt_window")
    return _pending(scan, st, m, f, Category.PD_PRELIMINARY, kinds)


def _locations(scan: Scan, st: WalkState, f: Findings) -> list[str]:
    by_id: dict[str, Lesion] = scan.by_id
    return sorted(
        {by_id[t].location_vs_rt.value for t in st.targets if t in by_id}
        | {by_id[n].location_vs_rt.value for n in f.new_ids}
    )


def _immunotherapy(
    scan: Scan, st: WalkState, m: Measured, f: Findings, kinds: tuple[str, ...], clinical: bool
) -> TimepointCall | None:
    """Immunotherapy: new lesions alone (RANO-BM) or any early progression (iRANO) await confirmation."""
    policy, tab, imm = scan.run.policy, scan.run.tab, f.imm
    if imm is None:
        return None
    if policy.immunotherapy_new_lesions_not_pd and kinds == ("new_lesion",):
        scan.ex.append(
            f"on immunotherapy (since {imm}) new lesions alone do not define progression "
            f"({cite('lin2015')} [V]); awaiting confirmation"
        )
        return _pending(scan, st, m, f, Category.PD_UNCONFIRMED, kinds)
    if not policy.irano:
        return None
    months = months_between(imm, scan.date)
    wmax = tab["iRANO"].value("immunotherapy_window_months")
    if months <= wmax.value and not clinical:
        rec = tab["iRANO"].value("recommended_confirmation_weeks")
        scan.ex.append(
            f"{months:.1f} months after starting immunotherapy (≤ {wmax.value:g}) and not clinically worse: "
            f"unconfirmed PD — continue therapy and repeat imaging (about {rec.value:g} weeks, "
            f"{rec.cite(tab.sources)}); iRANO ({wmax.cite(tab.sources)})"
        )
        return _pending(scan, st, m, f, Category.PD_UNCONFIRMED, kinds)
    if months <= wmax.value:
        scan.ex.append("significant clinical decline overrides the iRANO wait [UNVERIFIED]")
    else:
        scan.ex.append(
            f"{months:.1f} months after starting immunotherapy (> {wmax.value:g}): standard criteria apply [UNVERIFIED]"
        )
    return None
