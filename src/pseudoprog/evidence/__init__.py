"""Evidence: prior × likelihoods → probability of true progression with an interval (clinical_rules.md §2.9, §3).

``priors`` (base rates and clinical modifiers), ``likelihoods`` (marker accuracy → likelihood ratios),
``fusion`` (Bayesian combination with correlated markers and a Monte Carlo interval), ``calibration``
(a site's own thresholds from labelled cases), ``evaluate`` (one case, every step recorded).
"""

from .evaluate import EvidenceOutcome, evaluate_case, load_profile_table

__all__ = ["EvidenceOutcome", "evaluate_case", "load_profile_table"]
