"""RANO 2.0 (Wen et al., J Clin Oncol 2023;41:5187-99; clinical_rules.md §1.5).

One set of criteria for all adult gliomas and therapies. The post-radiotherapy scan is the
baseline; within 12 weeks of the end of radiotherapy a scan meeting the progression thresholds is
preliminary PD and needs a confirmation scan unless histology or new disease clearly outside the
high-dose field settles it; after 12 weeks confirmation is optional (``confirm_after_window``).
New lesions count when measurable; a steroid increase alone freezes the call ("not evaluable")
and, if progression follows, dates it to the first increase. Thresholds 2D −50 % / +25 %,
volumetric −65 % / +40 %. Only the enhancing (CE) track is assessed: the non-enhancing T2/FLAIR
track for IDH-mutant gliomas needs T2/FLAIR diameters, which pseudoprog does not take yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..case import Case, Lesion, MarkerStatus
from .engine import Policy, evaluate
from .timeline import CriterionResult

POLICY = Policy(
    name="RANO 2.0",
    table="RANO 2.0",
    baseline="post_radiotherapy",
    window_rule="preliminary",
    new_lesion_must_be_measurable=True,
    steroid_backdate=True,
    glioma=True,
    unverified=(
        "post-radiotherapy baseline",
        "preliminary PD within 12 weeks of radiotherapy, confirmed ≥ 4 weeks later by further ≥ 25 % growth "
        "(the mRANO confirmation test, assumed)",
        "volumetric measurable ≥ 1 cm³",
    ),
)


def assess_rano2(
    case: Case,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    *,
    method: str | None = None,
    confirm_after_window: bool = False,
) -> CriterionResult:
    """RANO 2.0 over the whole timeline (enhancing track).

    Parameters
    ----------
    confirm_after_window
        Require a confirmation scan for progression also after the 12-week window (RANO 2.0 leaves this
        optional outside specific settings such as immunotherapy trials; [UNVERIFIED]).
    """
    policy = replace(POLICY, confirm_after_window=confirm_after_window)
    result = evaluate(case, lesions, policy, method=method)
    if case.diagnosis.idh is MarkerStatus.MUTANT or case.diagnosis.type.value in (
        "astrocytoma",
        "oligodendroglioma",
        "low_grade_glioma",
    ):
        note = (
            "RANO 2.0 assesses IDH-mutant / predominantly non-enhancing gliomas on T2/FLAIR (non-CE track, with a "
            "minor-response category) — not assessed here: only the enhancing track is reported [UNVERIFIED]"
        )
        result = replace(result, notes=(*result.notes, note))
    return result
