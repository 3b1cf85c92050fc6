"""What distinguishes one criterion of the RANO family from another, and how its rules are cited.

A :class:`Policy` holds a criterion's rules (baseline choice, window rule, confirmation, which
findings count); its numbers live in ``data/criteria.yaml``. :func:`cite` renders the source of a
criterion or of a reference key of that table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import criteria_table


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


def cite(key: str) -> str:
    """The citation of a criterion (by its table name) or of a source key of criteria.yaml."""
    tab = criteria_table()
    if key in tab.criteria:
        return tab.cite(tab[key].source)
    return tab.cite(key)


def confirm_source(policy: Policy) -> str:
    """The citation of the criterion's progression-confirmation rule."""
    if policy.irano:
        return f"{cite('okada2015')} [UNVERIFIED: interval, back-dating]"
    return f"{cite(policy.table)} [UNVERIFIED]"
