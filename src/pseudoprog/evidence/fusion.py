"""Bayesian fusion: prior odds × likelihood ratios → posterior probability of true progression, with an interval.

Correlated evidence (clinical_rules.md §3.6 rule 1). Contributions carry a ``group`` (measurements of the
same thing: DSC max rCBV, mean rCBV and FTB are one measurement) and a ``family`` (modalities that are
correlated: DSC, DCE and ASL are all perfusion). Within a group only the strongest contribution (largest
|log LR|) is used; within a family the groups are ranked by strength and every group after the first is
raised to the power ``family_discount`` (0.5 by default). This is the §3.6 engineering rule; it keeps the
strongest signal whole and stops three views of the same blood volume from counting three times. Imaging
families are not independent either: with ``rho`` > 0 their summed log LR is divided by ``1 + (k - 1) rho``
(:func:`dependence_divisor`, an equicorrelated binormal model). ``naive=True`` multiplies everything (for
comparison only).

Interval: every input is drawn ``n_draws`` times (the prior from its Beta, each sensitivity and specificity
from Betas matched to its published interval, each modifier from its counts or log-normal interval, one of
the alternative pooled rows per draw) and fused draw by draw with the same rule; the interval is the 2.5 and
97.5 percentiles. The point value is the fusion of the point inputs; if it falls outside the percentiles
(possible when caps clip draws) the interval is widened to contain it and the method says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .stats import expit, logit


@dataclass(frozen=True)
class Contribution:
    """One piece of evidence as a log likelihood ratio for true progression, with its Monte Carlo draws.

    ``draws`` has one log LR per Monte Carlo draw (the same length for every contribution of a case).
    ``log_lr`` is the point value.
    """

    name: str
    value: Any
    unit: str | None
    log_lr: float
    draws: np.ndarray
    source: str
    group: str
    family: str
    kind: str = "marker"  # "marker" | "modifier"
    note: str = ""
    informative: float = 1.0  # share of the contribution that is a real test (0 for a flat 'no separation' LR)

    def __post_init__(self) -> None:
        if not np.isfinite(self.log_lr):
            raise ValueError(f"contribution {self.name}: log LR must be finite, got {self.log_lr}")
        if self.draws.ndim != 1:
            raise ValueError(f"contribution {self.name}: draws must be one-dimensional")


@dataclass(frozen=True)
class PriorTerm:
    """The pre-test probability: a point value and its Monte Carlo draws."""

    value: float
    draws: np.ndarray
    source: str
    row_id: str
    interval: tuple[float, float]

    def __post_init__(self) -> None:
        if not 0.0 < self.value < 1.0:
            raise ValueError(f"prior must lie strictly between 0 and 1, got {self.value}")


@dataclass(frozen=True)
class Weighting:
    """How the correlation rule used one contribution in the point fusion."""

    name: str
    weight: float  # 1 = used whole, 0 < w < 1 = discounted, 0 = not used (weaker member of its group)
    reason: str


@dataclass(frozen=True)
class FusionResult:
    value: float
    interval: tuple[float, float]
    prior: float
    log_odds_prior: float
    log_odds_posterior: float
    draws: np.ndarray
    weights: tuple[Weighting, ...] = ()
    widened: bool = False
    method: str = ""
    family_log_lr: dict[str, float] = field(default_factory=dict)
    dependence_divisor: float = 1.0  # imaging families' summed log LR is divided by this (equicorrelated model)
    heterogeneity_sd: float = 0.0  # extra log-odds SD in the draws because imaging families disagree
    bounded: bool = False  # the value or interval was held inside the probability bounds


def combine_log_lr(
    matrix: np.ndarray,
    groups: Sequence[str],
    families: Sequence[str],
    *,
    discount: float,
    naive: bool,
    rho: float = 0.0,
    informative: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Sum log LRs (rows: contributions, columns: draws or cases) under the correlation rule.

    Columns are independent, so a whole synthetic cohort can be fused at once (one column per case).
    Returns the total log LR per draw, the weight of each contribution per draw and the per-family total.
    Imaging families (every family not named ``modifier:...``) are then combined under an equicorrelated
    model: their summed log LR is divided by ``1 + (k - 1) rho``, the joint log LR of ``k`` equally strong
    binormal tests whose scores correlate with ``rho``. ``k`` is counted in units of the strongest family,
    ``k = Σ|L| / max|L|`` (per draw), so a neutral family adds nothing, concordant evidence never lowers the
    total, and the total is continuous and monotone in every family's log LR.
    """
    n_items, n_draws = matrix.shape
    weights = np.zeros_like(matrix)
    per_family: dict[str, np.ndarray] = {}
    if n_items == 0:
        return np.zeros(n_draws), weights, per_family
    if naive:
        weights[:] = 1.0
        for fam in dict.fromkeys(families):
            members = [i for i, f in enumerate(families) if f == fam]
            per_family[fam] = matrix[members].sum(axis=0)
        return matrix.sum(axis=0), weights, per_family
    total = np.zeros(n_draws)
    for fam in dict.fromkeys(families):
        fam_groups = list(dict.fromkeys(g for g, f in zip(groups, families, strict=True) if f == fam))
        group_values = np.zeros((len(fam_groups), n_draws))
        group_pick = np.zeros((len(fam_groups), n_draws), dtype=int)
        for gi, grp in enumerate(fam_groups):
            rows = np.array([i for i, g in enumerate(groups) if g == grp])
            block = matrix[rows]
            best = np.argmax(np.abs(block), axis=0)  # the strongest member of the group, per draw
            group_values[gi] = block[best, np.arange(n_draws)]
            group_pick[gi] = rows[best]
        order = np.argsort(-np.abs(group_values), axis=0, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(len(fam_groups))[:, None].repeat(n_draws, axis=1), axis=0)
        group_weight = np.where(rank == 0, 1.0, discount)
        fam_total = (group_weight * group_values).sum(axis=0)
        per_family[fam] = fam_total
        total += fam_total
        for gi in range(len(fam_groups)):
            weights[group_pick[gi], np.arange(n_draws)] = group_weight[gi]
    imaging = [f for f in per_family if not f.startswith("modifier:")]
    divisor = dependence_divisor(np.stack([per_family[f] for f in imaging]) if imaging else None, rho)
    if rho > 0.0 and imaging:
        total = total - sum(per_family[f] for f in imaging) * (1.0 - 1.0 / divisor)
        for i, f in enumerate(families):
            if not f.startswith("modifier:"):
                weights[i] = weights[i] / divisor
    return total, weights, per_family


def dependence_divisor(family_matrix: np.ndarray | None, rho: float) -> np.ndarray:
    """``1 + (k - 1) rho`` per column, ``k = Σ|L| / max|L|`` over the imaging families (rows); 1 with none."""
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must lie in [0, 1), got {rho}")
    if family_matrix is None or family_matrix.size == 0:
        return np.ones(1)
    a = np.abs(family_matrix)
    m = a.max(axis=0)
    k = np.where(m > 0, a.sum(axis=0) / np.where(m > 0, m, 1.0), 1.0)
    return 1.0 + (k - 1.0) * rho


def heterogeneity_sd(family_log_lr: dict[str, float], family_info: dict[str, float]) -> float:
    """Log-odds SD added to the draws when imaging families pull in opposite directions (0 when they agree).

    ``sqrt(up × down)`` where ``up`` sums the families' positive log LRs and ``down`` the magnitudes of the
    negative ones (each weighted by how informative the family is): (+1.5, -1.5) gives 1.5, (+2, -0.5) gives
    1.0, and concordant families of different strength give 0. Continuous in every log LR. [DERIVED]
    """
    up = down = 0.0
    for f, v in family_log_lr.items():
        if f.startswith("modifier:"):
            continue
        w = family_info.get(f, 1.0)
        up += w * max(v, 0.0)
        down += w * max(-v, 0.0)
    return math.sqrt(up * down)


SOFT_BOUND_KNEE = (0.2, 0.8)  # probabilities inside the knee are unchanged [DERIVED]


def soft_bound(p: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Hold probabilities strictly inside ``bounds``: identity within the knee (0.2-0.8), then a saturation.

    Beyond the knee the log-odds excess ``u`` (in units of the knee-to-bound distance) becomes ``u / (1 + u)``:
    monotone and continuous with slope 1 at the knee, slow enough that concordant evidence keeps an interval of
    real width; the bound itself is approached, never reached [DERIVED].
    """
    p = np.asarray(p, dtype=float)
    x = logit(np.clip(p, 1e-12, 1.0 - 1e-12))
    out = x.copy()
    touched = np.zeros(p.shape, dtype=bool)
    for knee, bound, sign in ((SOFT_BOUND_KNEE[1], bounds[1], 1.0), (SOFT_BOUND_KNEE[0], bounds[0], -1.0)):
        k, b = sign * float(logit(knee)), sign * float(logit(bound))
        if b <= k:
            raise ValueError(f"bounds {bounds} must lie outside the knee {SOFT_BOUND_KNEE}")
        beyond = sign * x > k
        u = np.maximum(sign * x - k, 0.0) / (b - k)
        out = np.where(beyond, sign * (k + (b - k) * u / (1.0 + u)), out)
        touched |= beyond
    return np.where(touched, expit(out), p)  # inside the knee: the value itself, without a logit round trip


def fuse(
    prior: PriorTerm,
    contributions: Sequence[Contribution],
    *,
    discount: float = 0.5,
    naive: bool = False,
    rho: float = 0.0,
    bounds: tuple[float, float] | None = None,
    rng: np.random.Generator | None = None,
) -> FusionResult:
    """Posterior probability of true progression from a prior and likelihood-ratio contributions.

    Parameters
    ----------
    prior
        The pre-test probability with its draws.
    contributions
        Log likelihood ratios (modifiers and markers) with their draws, group and family.
    discount
        Power applied to every correlated group after the strongest of its family (§3.6 rule 1).
    naive
        Treat every contribution as independent (comparison only).
    rho
        Correlation between imaging families (equicorrelated binormal model); 0 treats them as independent.
    bounds
        Keep the value and interval inside ``[lo, hi]`` (no histology: an imperfect reference standard).
    rng
        Generator for the heterogeneity draws when imaging families disagree (default: a fixed seed).

    Examples
    --------
    >>> import numpy as np
    >>> p = PriorTerm(0.35, np.full(4, 0.35), "example", "x", (0.35, 0.35))
    >>> c = Contribution("rcbv", 1.0, "ratio", float(np.log(0.16)), np.full(4, np.log(0.16)), "L08", "dsc", "perf")
    >>> round(fuse(p, [c]).value, 3)
    0.079
    """
    if not 0.0 < discount <= 1.0:
        raise ValueError(f"discount must lie in (0, 1], got {discount}")
    n_draws = prior.draws.shape[0]
    for c in contributions:
        if c.draws.shape[0] != n_draws:
            raise ValueError(f"contribution {c.name} has {c.draws.shape[0]} draws, the prior {n_draws}")
    groups = [c.group for c in contributions]
    families = [c.family for c in contributions]
    info = [c.informative for c in contributions]
    r = 0.0 if naive else rho
    kw: dict[str, Any] = {"discount": discount, "naive": naive, "rho": r, "informative": info}
    point = np.array([[c.log_lr] for c in contributions]).reshape(len(contributions), 1)
    point_total, point_w, per_family = combine_log_lr(point, groups, families, **kw)
    lo_prior = float(logit(prior.value))
    log_post = lo_prior + float(point_total[0])
    value = prior.value if float(point_total[0]) == 0.0 else float(expit(log_post))  # no round-off on no evidence
    if contributions:
        matrix = np.stack([c.draws for c in contributions])
        draw_total, _, _ = combine_log_lr(matrix, groups, families, **kw)
    else:
        draw_total = np.zeros(n_draws)
    fam_point = {k: float(v[0]) for k, v in per_family.items()}
    imaging_point = [v for k, v in fam_point.items() if not k.startswith("modifier:")]
    divisor = float(dependence_divisor(np.array(imaging_point)[:, None] if imaging_point else None, r)[0])
    fam_info: dict[str, float] = {}
    for f, x in zip(families, info, strict=True):
        fam_info[f] = max(fam_info.get(f, 0.0), float(x))
    het = 0.0 if naive else heterogeneity_sd(fam_point, fam_info)
    if het > 0.0:
        # Disagreeing modalities: the model's assumption of one shared signal is doubtful, so the interval widens.
        gen = rng if rng is not None else np.random.default_rng(0)
        draw_total = draw_total + gen.normal(0.0, het, size=n_draws)
    draws = expit(logit(prior.draws) + draw_total)
    bounded = False
    if bounds is not None:
        b_lo, b_hi = bounds
        bounded = not (b_lo <= value <= b_hi) or bool(((draws < b_lo) | (draws > b_hi)).any())
        # A soft bound, not a clip: clipping piled the point and the whole interval onto 0.98 (an interval of
        # width 0, issue 12 item 3). Log-odds beyond the knee saturate smoothly towards the bound instead.
        # no evidence: the prior itself (it lies inside the bounds by construction of the base-rate table)
        no_evidence = float(point_total[0]) == 0.0
        value = min(max(value, b_lo), b_hi) if no_evidence else float(soft_bound(np.array([value]), bounds)[0])
        draws = soft_bound(draws, bounds)
    lo, hi = (float(x) for x in np.percentile(draws, [2.5, 97.5]))
    widened = not lo <= value <= hi
    interval = (min(lo, value), max(hi, value))
    weights = []
    for i, c in enumerate(contributions):
        w = float(point_w[i, 0])
        if naive:
            reason = "independent (naive product)"
        elif w == 1.0:
            reason = "applied in full"
        elif w == 0.0:
            reason = f"not used: a stronger measurement of the same group ({c.group}) was used"
        elif divisor != 1.0 and not c.family.startswith("modifier:") and abs(w * divisor - 1.0) < 1e-12:
            reason = f"applied as LR^{w:.3g}: equicorrelated imaging families (rho {r:g}, divisor {divisor:.3g})"
        else:
            reason = f"discounted (LR^{w:.3g}): correlated with a stronger {c.family} measurement"
            if divisor != 1.0 and not c.family.startswith("modifier:"):
                reason += f", and imaging families equicorrelated (rho {r:g})"
        weights.append(Weighting(c.name, w, reason))
    rule = (
        "naive independence"
        if naive
        else f"correlated groups: strongest per group, later groups in a family ^{discount:g}"
        + (f"; imaging families equicorrelated, rho {r:g} (summed log LR / {divisor:.3g})" if divisor != 1.0 else "")
    )
    method = (
        f"Bayes: prior odds × LRs; {rule}; "
        f"95 % interval from {n_draws} Monte Carlo draws over prior and sensitivity/specificity intervals"
        + (f"; widened for disagreeing modalities (log-odds SD {het:.2f})" if het > 0 else "")
        + (f"; held within [{bounds[0]:g}, {bounds[1]:g}] without histology" if bounds is not None and bounded else "")
        + ("; interval widened to contain the point value" if widened else "")
    )
    return FusionResult(
        value=value,
        interval=interval,
        prior=prior.value,
        log_odds_prior=lo_prior,
        log_odds_posterior=log_post,
        draws=draws,
        weights=tuple(weights),
        widened=widened,
        method=method,
        family_log_lr=fam_point,
        dependence_divisor=divisor,
        heterogeneity_sd=het,
        bounded=bounded,
    )
