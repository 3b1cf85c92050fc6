"""A scan where only the known lesions were looked for (automatic detection refused it) calls no response.

A response, stable disease and a pseudoprogression verdict each need "no new lesion"; progression does not.
"""

from __future__ import annotations

from dataclasses import replace

from pseudoprog.case import Case
from pseudoprog.criteria import Category, assess_mrano, assess_rano2, assess_rano_bm
from pseudoprog.question import decide_question

from .test_criteria_units import _case

WHY = "automatic detection refused this scan (15 separate candidates)"


def _not_searched(case: Case, *dates: str) -> Case:
    return replace(
        case,
        timepoints=tuple(
            replace(tp, new_lesions_not_searched=WHY) if tp.date.isoformat() in dates else tp for tp in case.timepoints
        ),
    )


def _shrinking() -> Case:
    return _case(
        [
            {"date": "2025-04-11", "lesions": {"L1": [30, 30]}},
            {"date": "2025-06-13", "lesions": {"L1": [18, 16]}},  # -68 %: PR by size
            {"date": "2025-07-25", "lesions": {"L1": [17, 15]}},
        ]
    )


def test_a_response_is_not_called_where_new_lesions_were_not_looked_for() -> None:
    case = _shrinking()
    assert [c.category for c in assess_rano2(case).calls][1:] == [Category.PR_UNCONFIRMED, Category.PR]
    held = assess_rano2(_not_searched(case, "2025-06-13"))
    at = held.calls[1]
    assert at.category is Category.CANNOT_ASSESS
    assert at.reason is not None and "new lesions were not looked for" in at.reason and "15 separate" in at.reason
    assert "PR" in at.reason and "new_lesions_not_searched" in at.flags
    assert at.pct_change_vs_baseline is not None and at.pct_change_vs_baseline < -50  # the numbers stay
    # The next, fully searched scan is a response again; its clock starts there, not at the unsearched scan.
    assert held.calls[2].category is Category.PR_UNCONFIRMED


def test_stable_disease_is_not_called_either() -> None:
    case = _case(
        [{"date": "2025-04-11", "lesions": {"L1": [30, 30]}}, {"date": "2025-06-13", "lesions": {"L1": [30, 29]}}]
    )
    assert assess_rano2(case).category is Category.SD
    assert assess_rano2(_not_searched(case, "2025-06-13")).category is Category.CANNOT_ASSESS


def test_progression_by_size_is_still_called() -> None:
    case = _case(
        [{"date": "2025-05-20", "lesions": {"L1": [20, 20]}}, {"date": "2025-08-13", "lesions": {"L1": [30, 28]}}]
    )
    assert assess_rano2(_not_searched(case, "2025-08-13")).category is assess_rano2(case).category is Category.PD


def test_a_pending_progression_is_not_called_pseudoprogression_there() -> None:
    scans = [
        {"date": "2025-04-11", "lesions": {"L1": [20, 20]}},
        {"date": "2025-06-13", "lesions": {"L1": [30, 28]}},  # mRANO: preliminary PD
        {"date": "2025-07-25", "lesions": {"L1": [22, 20]}},  # not confirmed: pseudoprogression
        {"date": "2025-09-05", "lesions": {"L1": [21, 20]}},
    ]
    case = _case(scans)
    plain = assess_mrano(case).calls
    assert plain[1].category is Category.PD_PRELIMINARY
    assert plain[2].in_retrospect is None and "pseudoprogression_not_confirmed_pd" in plain[2].flags
    held = assess_mrano(_not_searched(case, "2025-07-25")).calls
    assert held[2].category is Category.CANNOT_ASSESS and "not confirmed by what was measured" in str(held[2].reason)
    assert "pseudoprogression_not_confirmed_pd" not in held[2].flags
    # still pending at the next searched scan, which decides it
    assert "pseudoprogression_not_confirmed_pd" in held[3].flags
    assert held[1].in_retrospect is not None and "2025-09-05" in held[1].in_retrospect


def test_rano_bm_and_the_question_hold_back_too() -> None:
    mets = {
        "diagnosis": {"type": "metastasis", "primary": "lung"},
        "treatments": [{"type": "srs", "start": "2025-01-10", "end": "2025-01-10", "dose_gy": 20, "fractions": 1}],
    }
    case = _case(
        [{"date": "2025-01-08", "lesions": {"L1": [20, 15]}}, {"date": "2025-04-10", "lesions": {"L1": [19, 15]}}],
        tpl=mets,
    )
    assert assess_rano_bm(case).category is Category.SD
    unsearched = _not_searched(case, "2025-04-10")
    assert assess_rano_bm(unsearched).category is Category.CANNOT_ASSESS
    assert decide_question(case).finding == "stable"
    q = decide_question(unsearched)
    assert not q.asked and q.finding == "not searched" and "15 separate candidates" in q.reason


def test_the_advice_is_to_read_the_scan_for_new_lesions_not_surveillance() -> None:
    from pseudoprog.advice import recommend
    from pseudoprog.assessment import Scope
    from pseudoprog.criteria import assess_all, to_response_call

    case = _not_searched(
        _case(
            [{"date": "2025-04-11", "lesions": {"L1": [30, 30]}}, {"date": "2025-06-13", "lesions": {"L1": [30, 29]}}]
        ),
        "2025-06-13",
    )
    chosen, why, results = assess_all(case)
    response = to_response_call(results[chosen], selection_reason=why)
    question = decide_question(case, response=response)
    rec = recommend(case, scope=Scope(True, "in scope"), response=response, question=question)
    assert rec.next_step is not None and rec.next_step.startswith("a reader reads the latest scan for new enhancing")
    assert "surveillance" not in (rec.management or "").split(":")[0]
    assert any("new lesions were not looked for" in r for r in rec.rationale)
