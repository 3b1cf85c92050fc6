"""Response criteria over a case's whole timeline: RANO 2010, mRANO, RANO 2.0, iRANO and RANO-BM.

``assess_all(case, lesions)`` runs every criterion and says which fits the case;
``to_response_call`` turns one result into the pipeline's :class:`~pseudoprog.assessment.ResponseCall`.
Thresholds and windows live in ``data/criteria.yaml`` with their sources.
"""

from .engine import Policy, choose_baseline, current_line, evaluate
from .irano import assess_irano
from .mrano import assess_mrano
from .rano import assess_rano
from .rano2 import assess_rano2
from .rano_bm import assess_rano_bm
from .rules import CRITERIA_NAMES, criteria_table
from .select import ASSESSORS, assess_all, assess_criterion, choose_criterion, criterion_name, to_response_call
from .timeline import Category, Confirmation, CriterionResult, TimepointCall, pct_change

__all__ = [
    "ASSESSORS",
    "CRITERIA_NAMES",
    "Category",
    "Confirmation",
    "CriterionResult",
    "Policy",
    "TimepointCall",
    "assess_all",
    "assess_criterion",
    "assess_irano",
    "assess_mrano",
    "assess_rano",
    "assess_rano2",
    "assess_rano_bm",
    "choose_baseline",
    "choose_criterion",
    "criteria_table",
    "criterion_name",
    "current_line",
    "evaluate",
    "pct_change",
    "to_response_call",
]
