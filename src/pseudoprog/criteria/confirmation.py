"""Step 4 of a follow-up call: a pending preliminary / unconfirmed PD meets its confirmation scan.

Confirmed (further growth, a new lesion, persisting new or non-target progression, clinical decline,
histology) → PD dated to the first scan; otherwise pseudoprogression, and the nadir is reset to this
scan (mRANO, Ellingson 2017; RANO 2.0; iRANO, Okada 2015 — clinical_rules.md §1.4, §1.5, §1.7).
"""

from __future__ import annotations

from ..case import ClinicalStatus
from .findings import Findings
from .measure import Measured
from .policy import confirm_source
from .response import not_searched
from .state import Pending, Scan, WalkState
from .timeline import Category, Confirmation, TimepointCall, format_pct, lesion_gone, pct_change


def confirm_pending(scan: Scan, st: WalkState, m: Measured, f: Findings) -> TimepointCall | None:
    """The call at the confirmation scan of ``st.pending_pd``; None when it turned out pseudoprogression.

    In that case the nadir is reset and the scan's triggers cleared: the response rules (step 6) decide.
    """
    pend = st.pending_pd
    if pend is None:
        return None
    run = scan.run
    days = (scan.date - pend.date).days
    min_days = run.tab["iRANO"].value("pd_confirmation_days")
    if "pd_confirmation_days" in run.crit.values and not run.policy.irano:
        min_days = run.crit.value("pd_confirmation_days")
    by: list[str] = []
    if f.clin is ClinicalStatus.WORSE:
        by.append("clinical deterioration")
    if f.hist is not None:
        by.append(f"histology of viable tumour ({f.hist})")
    early = days < min_days.value
    by_imaging = _by_imaging(scan, st, m, f, pend)
    if not early:
        by.extend(by_imaging)
    if not by and early:
        scan.ex.append(
            f"{days} days after the {pend.category.value} scan: shorter than the {min_days.value:g}-day "
            f"confirmation interval ({min_days.cite(run.tab.sources)}); still awaiting confirmation"
        )
        conf = Confirmation.PRELIMINARY if pend.category is Category.PD_PRELIMINARY else Confirmation.UNCONFIRMED
        if m.cur.value is not None:
            st.values[scan.i] = m.cur.value
        return scan.make(pend.category, confirmation=conf, **scan.fields)
    if by:
        scan.ex.append(
            f"{pend.category.value} of {pend.date} confirmed by "
            + "; ".join(by)
            + f" → PD, dated to {pend.date} ({confirm_source(run.policy)})"
        )
        scan.retro[pend.index] = f"PD confirmed on {scan.date}"
        st.pending_pd = None
        return scan.established(st, pend.date, Confirmation.CONFIRMED)
    held = not_searched(scan, f"the {pend.category.value} of {pend.date} is not confirmed by what was measured")
    if held is not None:  # pseudoprogression needs "no new lesion": the progression stays pending
        return held
    _pseudoprogression(scan, st, m, f, pend)
    return None


def _by_imaging(scan: Scan, st: WalkState, m: Measured, f: Findings, pend: Pending) -> list[str]:
    """What on imaging confirms the pending progression (further growth, new or persisting lesions)."""
    thr, by_id = scan.run.thr, scan.by_id
    out: list[str] = []
    if pend.value is not None and m.cur.value is not None and st.targets:
        p = pct_change(m.cur.value, pend.value)
        scan.ex.append(f"vs the {pend.category.value} scan {pend.date}: {format_pct(p)}")
        if p >= thr.pd_pct:
            out.append(f"further growth {format_pct(p)} ≥ {thr.pd_pct:+g} % vs {pend.date}")
    later_new = [n for n in f.new_ids if n not in pend.new_ids]
    if later_new:
        out.append("new lesion(s) " + ", ".join(later_new))
    if "new_lesion" in pend.kinds:
        persisting = [n for n in pend.new_ids if n in by_id and not lesion_gone(by_id[n])]
        if persisting:
            out.append("the new lesion(s) " + ", ".join(persisting) + " persist [DERIVED]")
    if "nontarget" in pend.kinds:
        still = [n for n in st.nontargets if n in by_id and by_id[n].unequivocal_progression]
        if still:
            out.append("non-target lesion(s) " + ", ".join(still) + " still progressing [DERIVED]")
    return out


def _pseudoprogression(scan: Scan, st: WalkState, m: Measured, f: Findings, pend: Pending) -> None:
    """Not confirmed: pseudoprogression; the nadir restarts at this scan and the triggers are cleared."""
    scan.ex.append(
        f"{pend.category.value} of {pend.date} not confirmed (no further growth, no new lesion, no "
        f"clinical decline) → pseudoprogression; the nadir is reset to this scan ({confirm_source(scan.run.policy)})"
    )
    scan.retro[pend.index] = f"pseudoprogression (not confirmed on {scan.date})"
    scan.flags.append("pseudoprogression_not_confirmed_pd")
    st.pending_pd = None
    st.nadir_start = scan.i
    st.reference_ids |= {x.id for x in scan.les if not lesion_gone(x)}
    f.triggers = []
    scan.fields["progression_triggers"] = ()
    if m.nadir_idx is not None:
        scan.fields["nadir"] = {
            "date": scan.date.isoformat(),
            "value": m.cur.value,
            "unit": m.cur.unit,
            "method": scan.run.method,
            "reset": "pseudoprogression",
        }
        scan.fields["pct_change_vs_nadir"] = 0.0 if m.cur.value is not None else None
        m.pct_n = 0.0
