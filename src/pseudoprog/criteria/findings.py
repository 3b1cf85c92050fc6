"""Step 3 of a follow-up call: new lesions, non-target progression, T2/FLAIR, clinical status and histology.

An equivocal new lesion is followed, and progression is back-dated to its first appearance if it is
confirmed (Lin 2015 footnote); RANO 2.0 counts only measurable new lesions; T2/FLAIR counts where the
criterion uses it, unless steroids were tapered (clinical_rules.md §1.3–§1.7, §6 C12).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..case import ClinicalStatus, FlairChange, HistologyResult, TreatmentType
from .measure import outside
from .policy import cite
from .state import Scan, Trigger, WalkState
from .targets import measurable
from .timeline import immunotherapy_start, lesion_gone
from .windows import histology_tumour


@dataclass
class Findings:
    """The progression triggers of a scan and what the later steps need to weigh them."""

    triggers: list[Trigger] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    imm: dt.date | None = None  # immunotherapy start, if any before the scan
    hist: dt.date | None = None  # histology showing viable tumour
    clin: ClinicalStatus = ClinicalStatus.UNKNOWN


def findings(scan: Scan, st: WalkState, triggers: list[Trigger]) -> Findings:
    """Every non-size finding of the scan, appended to ``triggers`` (the size trigger, if any)."""
    f = Findings(triggers=triggers, imm=immunotherapy_start(scan.run.case, scan.date), clin=scan.tp.clinical_status)
    _new_lesions(scan, st, f)
    for tid in st.nontargets:
        les = scan.by_id.get(tid)
        if les is not None and les.unequivocal_progression:
            f.triggers.append(
                Trigger(
                    "nontarget",
                    f"unequivocal progression of non-target lesion {tid}",
                    outside_field=outside(les.location_vs_rt, scan.run.marginal_outside),
                )
            )
    _flair(scan, f)
    _clinical(scan, f)
    _histology(scan, f)
    return f


def _new_lesions(scan: Scan, st: WalkState, f: Findings) -> None:
    run, date = scan.run, scan.date
    for les in sorted(scan.les, key=lambda x: x.id):
        if lesion_gone(les):
            continue
        is_new = les.id not in st.reference_ids or les.new
        pending_eq = st.equivocal_since.get(les.id)
        if not (is_new or pending_eq or les.id in st.nonmeasurable_new):
            continue
        if les.id in st.targets or les.id in st.nontargets:
            continue
        if les.equivocal:
            st.equivocal_since.setdefault(les.id, date)
            scan.ex.append(
                f"new lesion {les.id} is equivocal: not progression yet; if confirmed later, progression is "
                f"dated to {st.equivocal_since[les.id]} ({cite('lin2015')} [V] footnote)"
            )
            scan.flags.append("equivocal_new_lesion")
            continue
        if run.policy.new_lesion_must_be_measurable:
            ok, why = measurable(les, run.crit, "bidimensional")
            if not ok:
                st.nonmeasurable_new.add(les.id)
                scan.ex.append(
                    f"new lesion {les.id} is not measurable ({why}): RANO 2.0 counts new measurable lesions "
                    f"as progression; followed ({cite('rano2_assist')} [V2])"
                )
                scan.flags.append("new_nonmeasurable_lesion")
                continue
        loc = les.location_vs_rt
        is_outside = outside(loc, run.marginal_outside)
        backdate = pending_eq if pending_eq is not None and pending_eq < date else None
        text = f"new enhancing lesion {les.id} ({loc.value} vs radiation field)"
        if backdate is not None:
            text += f", confirmed after an equivocal first appearance on {backdate}"
        f.new_ids.append(les.id)
        f.triggers.append(Trigger("new_lesion", text, outside_field=is_outside, backdate=backdate))
        if run.policy.window_rule == "forbid" and not scan.rt_window and scan.rt is not None and not is_outside:
            scan.ex.append(
                f"note: new lesion {les.id} is not outside the radiation field; the RANO 12-week table lists "
                "new enhancement outside the field after 12 weeks, the response table counts any new lesion — "
                "the response table is applied (clinical_rules §1.3.2 vs §1.3.3)"
            )


def _on_anti_angiogenic(scan: Scan) -> bool:
    """Bevacizumab (anti-VEGF) started on or before this scan."""
    return any(t.type is TreatmentType.BEVACIZUMAB and t.start <= scan.date for t in scan.run.case.treatments)


def _flair(scan: Scan, f: Findings) -> None:
    policy, tp = scan.run.policy, scan.tp
    # Non-enhancing growth on anti-angiogenic therapy is progression under RANO 2010 (Wen 2010: bevacizumab can
    # suppress enhancement while infiltrative tumour grows), so a criterion that drops T2/FLAIR still applies it
    # there; otherwise the report would head with PR on a pseudoresponse (issue 12 item 5).
    bev_rule = policy.glioma and not policy.use_flair and _on_anti_angiogenic(scan)
    if not policy.use_flair and not bev_rule:
        if tp.flair_change is FlairChange.INCREASED:
            scan.ex.append(
                f"T2/FLAIR increase recorded but not a progression criterion in {policy.name} "
                f"({cite(policy.table)}; clinical_rules §1.4–1.5)"
            )
        return
    if bev_rule and tp.flair_change is FlairChange.INCREASED:
        scan.ex.append(
            f"on bevacizumab: the RANO 2010 non-enhancing (T2/FLAIR) progression rule for anti-angiogenic therapy "
            f"applies although {policy.name} does not use T2/FLAIR otherwise ({cite('wen2010')} [V2]; "
            "clinical_rules §1.3)"
        )
    if tp.flair_change is FlairChange.INCREASED:
        s0, s1 = scan.base_tp.steroids_mg_dexamethasone, tp.steroids_mg_dexamethasone
        if s0 is not None and s1 is not None and s1 < s0:
            scan.ex.append(
                "T2/FLAIR increase while steroids were tapered: not counted as progression "
                f"(RANO requires stable or rising steroids; {cite('wen2010')} [V2])"
            )
        else:
            f.triggers.append(Trigger("flair", "significant T2/FLAIR non-enhancing increase not due to other causes"))
    elif tp.flair_change is FlairChange.INCREASED_OTHER_CAUSE:
        scan.ex.append("T2/FLAIR increase attributed to other causes: not progression")
    elif tp.flair_change is FlairChange.UNKNOWN:
        scan.ex.append("T2/FLAIR change not reported: the non-enhancing rule could not be checked")


def _clinical(scan: Scan, f: Findings) -> None:
    if f.clin is ClinicalStatus.WORSE:
        f.triggers.append(Trigger("clinical", "clinical deterioration attributed to the tumour"))
    elif f.clin is ClinicalStatus.WORSE_OTHER_CAUSE:
        scan.ex.append("clinical worsening attributed to another cause: not progression")
    elif f.clin is ClinicalStatus.UNKNOWN:
        scan.ex.append("clinical status not reported: the clinical conditions could not be checked")


def _histology(scan: Scan, f: Findings) -> None:
    run, date, rt = scan.run, scan.date, scan.rt
    f.hist = histology_tumour(run.case, date, rt.last_day if (rt is not None and run.policy.glioma) else None)
    if f.hist is not None:
        scan.ex.append(
            f"histology on {f.hist} showed viable tumour: progression may be declared without waiting "
            f"({cite('wen2010_12w')} [V])"
        )
    for tp in run.case.timepoints:
        if tp.date == date and tp.histology_result is HistologyResult.TREATMENT_EFFECT:
            scan.ex.append(
                "histology at this date showed treatment effect; the criteria are imaging-based and are not "
                "overridden, but the finding weighs against progression (clinical_rules §6 C12)"
            )
            scan.flags.append("histology_treatment_effect")
