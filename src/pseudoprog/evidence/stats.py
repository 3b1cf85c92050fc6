"""Small statistical helpers shared by the evidence stage: intervals, Beta draws, AUC, calibration error.

Everything is vectorised over Monte Carlo draws; nothing here knows about cases.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from .. import files

Z95 = 1.959963984540054


@cache
def load_table(name: str) -> dict[str, Any]:
    """Read one of the sourced YAML tables in ``pseudoprog/evidence/data`` (cached: treat as read-only)."""
    return files.load_table("evidence", name)


def wilson_interval(k: float, n: float, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95 % by default)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must lie in 0..n, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def beta_from_interval(point: float, lo: float, hi: float) -> tuple[float, float]:
    """Beta(a, b) with mean ``point`` and a 95 % width close to ``hi - lo`` (normal approximation).

    Parameters are floored at 0.5 so a narrow or one-sided interval never gives a degenerate Beta.
    """
    if not 0 < point < 1:
        raise ValueError(f"point must lie strictly between 0 and 1, got {point}")
    if not lo <= point <= hi:
        raise ValueError(f"interval [{lo}, {hi}] must contain the point {point}")
    sd = max((hi - lo) / (2 * Z95), 1e-4)
    total = max(point * (1 - point) / (sd * sd) - 1.0, 1.0)
    return max(point * total, 0.5), max((1 - point) * total, 0.5)


def draw_proportion(
    rng: np.random.Generator,
    n_draws: int,
    *,
    point: float,
    ci: tuple[float, float] | None = None,
    k: float | None = None,
    n: float | None = None,
) -> np.ndarray:
    """Draws of a proportion: Jeffreys Beta(k + ½, n − k + ½) from counts, else a Beta matched to ``ci``."""
    if k is not None and n is not None:
        return rng.beta(k + 0.5, n - k + 0.5, size=n_draws)
    if ci is None:
        return np.full(n_draws, point)
    a, b = beta_from_interval(min(max(point, 1e-3), 1 - 1e-3), min(ci[0], point), max(ci[1], point))
    return rng.beta(a, b, size=n_draws)


def draw_lognormal_ratio(
    rng: np.random.Generator, n_draws: int, *, point: float, ci: tuple[float, float]
) -> np.ndarray:
    """Draws of a ratio whose log is normal, centred on ``log(point)`` with the 95 % width of ``ci``."""
    if point <= 0 or ci[0] <= 0 or ci[1] < ci[0]:
        raise ValueError(f"ratio {point} with interval {ci} must be positive and ordered")
    sd = (math.log(ci[1]) - math.log(ci[0])) / (2 * Z95)
    return np.exp(rng.normal(math.log(point), sd, size=n_draws))


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def expit(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); labels 1 = true progression."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("AUC needs both classes")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def bootstrap_auc_interval(
    scores: np.ndarray, labels: np.ndarray, *, n_boot: int = 400, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of the AUC (resamples that lose a class are skipped)."""
    rng = np.random.default_rng(seed)
    n = len(scores)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        lab = labels[idx]
        if lab.all() or not lab.any():
            continue
        values.append(auc(scores[idx], lab))
    if not values:
        raise ValueError("bootstrap failed: every resample lost a class")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 10) -> float:
    """Expected calibration error: occupancy-weighted mean |observed rate − mean probability| over equal-width bins."""
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels, dtype=float)
    if probs.shape != labels.shape or probs.size == 0:
        raise ValueError("probs and labels must be non-empty and of equal shape")
    bins = np.clip((probs * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=probs, minlength=n_bins)
    sum_y = np.bincount(bins, weights=labels, minlength=n_bins)
    used = count > 0
    return float(np.sum(np.abs(sum_y[used] - sum_p[used])) / probs.size)
