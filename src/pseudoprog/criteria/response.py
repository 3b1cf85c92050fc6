"""Step 6 of a follow-up call: CR / PR / SD, with the steroid, clinical and 4-week confirmation conditions.

CR needs every enhancing lesion gone, no new lesion being followed and no corticosteroids; a response
needs stable or improved clinical status and is confirmed ≥ 4 weeks later; a steroid increase alone
freezes the call until the dose is back to baseline (clinical_rules.md §1.5 steroid rule, §4.4).
"""

from __future__ import annotations

from ..case import ClinicalStatus
from .findings import Findings
from .measure import Measured
from .policy import cite
from .state import Scan, WalkState
from .timeline import Category, Confirmation, TimepointCall, format_pct, lesion_gone


def response_call(scan: Scan, st: WalkState, m: Measured, f: Findings) -> TimepointCall:
    """The call at a scan without progression."""
    st.record(scan.i, m.cur.value, m.cur_other.value)
    cat = _size_category(scan, st, m)
    unsearched = not_searched(scan, f"the size rule gives {cat.value}")
    if unsearched is not None:
        return unsearched
    if cat in (Category.CR, Category.PR) and f.clin is ClinicalStatus.WORSE_OTHER_CAUSE:
        scan.ex.append("clinically worse (other cause): response requires stable or improved clinical status → SD")
        cat = Category.SD
    frozen = _steroids(scan, st)
    if frozen is not None:
        return frozen
    if cat in (Category.CR, Category.PR):
        return _confirm_response(scan, st, cat)
    st.response_since = st.cr_since = None
    return scan.make(cat, **scan.fields)


def _size_category(scan: Scan, st: WalkState, m: Measured) -> Category:
    """CR, PR or SD by the burden (and the CR conditions on non-targets, new lesions and steroids)."""
    thr, src, by_id = scan.run.thr, scan.run.src, scan.by_id
    s1 = scan.tp.steroids_mg_dexamethasone
    if not st.targets:
        scan.ex.append(
            "no measurable disease at baseline: without progression the call is SD (CR/PR need measurable "
            f"disease; {cite('wen2010')} [V2])"
        )
        return Category.SD
    if m.cur.value == 0:
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
            scan.ex.append("all target lesions resolved but CR is not met: " + "; ".join(blockers) + " → PR")
            return Category.PR
        scan.ex.append("all enhancing disease resolved, no corticosteroids")
        return Category.CR
    if m.pct_b is not None and m.pct_b <= thr.pr_pct:
        scan.ex.append(
            f"size: {format_pct(m.pct_b)} vs baseline ≤ {thr.pr_pct:+g} % → partial response threshold met ({src})"
        )
        return Category.PR
    scan.ex.append(f"size: neither ≤ {thr.pr_pct:+g} % vs baseline nor ≥ {thr.pd_pct:+g} % vs nadir → stable ({src})")
    return Category.SD


def _steroids(scan: Scan, st: WalkState) -> TimepointCall | None:
    """A steroid increase without tumour-related decline freezes the call (None: the call goes on)."""
    s0, s1 = scan.base_tp.steroids_mg_dexamethasone, scan.tp.steroids_mg_dexamethasone
    if s0 is not None and s1 is not None and s1 > s0:
        st.steroid_increase = st.steroid_increase or scan.date
        scan.ex.append(
            f"steroids increased from {s0:g} to {s1:g} mg dexamethasone without tumour-related decline: "
            "an increase alone "
            "is not progression, and the patient is neither SD nor responding until the dose returns to baseline "
            f"({cite('rano2_assist')} [V2] quoting RANO 2.0; {cite('lin2015')} [V])"
        )
        st.response_since = st.cr_since = None
        return scan.make(Category.NOT_EVALUABLE_STEROIDS, **scan.fields)
    if s0 is None or s1 is None:
        scan.ex.append(
            "steroid dose not reported at the baseline or this scan: the steroid conditions were not checked"
        )
    elif st.steroid_increase is not None:
        scan.ex.append(f"steroids back to ≤ baseline (raised on {st.steroid_increase}): assessable again")
        st.steroid_increase = None
    return None


def _confirm_response(scan: Scan, st: WalkState, cat: Category) -> TimepointCall:
    """CR / PR confirmed when sustained ≥ 4 weeks (a CR newer than the response: confirmed PR)."""
    need = scan.run.crit.value("response_confirmation_days")
    cite_need = need.cite(scan.run.tab.sources)
    date = scan.date
    st.response_since = st.response_since or date
    st.cr_since = (st.cr_since or date) if cat is Category.CR else None
    since = st.cr_since if cat is Category.CR else st.response_since
    if since is not None and (date - since).days >= need.value:
        scan.ex.append(f"{cat.value} sustained since {since} (≥ {need.value:g} days; {cite_need})")
        return scan.make(cat, confirmation=Confirmation.CONFIRMED, **scan.fields)
    if cat is Category.CR and st.response_since is not None and (date - st.response_since).days >= need.value:
        scan.ex.append(
            f"response sustained since {st.response_since} but CR only since {st.cr_since}: confirmed PR, "
            "CR unconfirmed"
        )
        return scan.make(Category.PR, confirmation=Confirmation.CONFIRMED, **scan.fields)
    scan.ex.append(f"{cat.value} needs confirmation ≥ {need.value:g} days later ({cite_need})")
    unconf = Category.CR_UNCONFIRMED if cat is Category.CR else Category.PR_UNCONFIRMED
    return scan.make(unconf, confirmation=Confirmation.UNCONFIRMED, **scan.fields)


def not_searched(scan: Scan, what: str) -> TimepointCall | None:
    """Call "cannot assess" at a scan whose images were not searched for new lesions (None: they were).

    A response, stable disease and a pseudoprogression verdict each need "no new lesion"; only the lesions known
    from other scans were looked for here, so none of them is called (progression still is: it needs no such
    absence). The measured burden stays a nadir candidate; the response clock neither starts nor stops.
    """
    why = scan.tp.new_lesions_not_searched
    if why is None:
        return None
    reason = (
        f"new lesions were not looked for at this scan ({why}; the known lesions were measured at their places): "
        f"{what}, which needs no new lesion — read the scan for new lesions"
    )
    scan.ex.append("cannot assess: " + reason)
    scan.flags.append("new_lesions_not_searched")
    return scan.make(Category.CANNOT_ASSESS, reason=reason, **scan.fields)
