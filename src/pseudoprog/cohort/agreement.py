"""Agreement between criteria (Cohen's kappa with a case-level bootstrap interval) and ROC curves."""

from __future__ import annotations

import numpy as np

# The calls that are a response class; the others (baseline, not evaluable, cannot assess, not applicable,
# PD not allowed inside the pseudoprogression window) are left out of the agreement.
BROAD = ("CR", "PR", "SD", "PD")


def broad_class(call: str | None) -> str | None:
    """CR / PR / SD / PD from a criterion's call, provisional states folded in ('PD (preliminary)' → PD)."""
    if not call:
        return None
    head = call.split(" (")[0]
    return head if head in BROAD else None


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two integer-coded raters over the same items (Cohen 1960, Educ Psychol Meas 20:37)."""
    a = np.asarray(a, dtype=int)
    b = np.asarray(b, dtype=int)
    if a.size == 0:
        return float("nan")
    k = int(max(a.max(), b.max())) + 1
    table = np.zeros((k, k))
    np.add.at(table, (a, b), 1.0)
    table /= a.size
    observed = np.trace(table)
    expected = float(table.sum(axis=1) @ table.sum(axis=0))
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else float("nan")
    return float((observed - expected) / (1.0 - expected))


def kappa_with_interval(
    a: np.ndarray, b: np.ndarray, groups: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> tuple[float, tuple[float, float] | None]:
    """Kappa and its 95 % percentile bootstrap interval, resampling whole cases (``groups``) because the
    timepoints of one patient are not independent."""
    kappa = cohen_kappa(a, b)
    ids, inverse = np.unique(groups, return_inverse=True)
    if ids.size < 2:
        return kappa, None
    members = [np.flatnonzero(inverse == g) for g in range(ids.size)]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        idx = np.concatenate([members[g] for g in rng.integers(0, ids.size, size=ids.size)])
        value = cohen_kappa(a[idx], b[idx])
        if np.isfinite(value):
            draws.append(value)
    if len(draws) < n_boot // 2:
        return kappa, None
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return kappa, (float(lo), float(hi))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, higher score = positive."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # last index of each tied run
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    tpr = np.r_[0.0, tp / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fp / max(int((~y).sum()), 1)]
    return fpr, tpr
