"""Correction of contrast leakage through a broken blood-brain barrier in DSC ΔR2* curves.

Two methods, both linear and solved for every voxel at once:

``"bsw"`` — Boxerman, Schmainda & Weisskoff, AJNR 2006;27:859-67 (clinical_rules.md §5.1.4).
    Each voxel is fitted as ``ΔR2*(t) ≈ K1 · ΔR2*_ref(t) − K2 · ∫0^t ΔR2*_ref``, the reference being
    the mean curve of whole-brain non-enhancing tissue; the corrected curve adds ``K2 · ∫ΔR2*_ref``
    back. ``K2 > 0`` is T1-dominant leakage (uncorrected CBV too low), ``K2 < 0`` T2*-dominant (too
    high). It assumes the voxel's intravascular curve has the reference's shape, so a lesion whose
    transit time or arrival differs from normal tissue is partly mistaken for leakage.

``"bjornerud"`` — Bjørnerud, Sorensen, Mouridsen & Emblem, JCBFM 2011;31:2041-53.
    The tissue curve is deconvolved by the AIF; extravasated contrast adds a slowly decaying tail
    to the apparent residue function, ``CBF·R(t) + K·e^(−kep·t)``, which remains after the
    intravascular transit has ended whatever the voxel's transit time or arrival delay (the
    arrival delay of a few seconds only shifts the residue peak). The tail is fitted as ``a + b·t``
    from ``residue_tail_start_s`` after the arterial bolus and removed in the time domain:
    ``ΔR2*_corr = ΔR2* − a · ∫C_a − b · ∫∫C_a``. Its ``K2 = −a`` (per unit of AIF) keeps the BSW sign.

Both report K2 maps; the method used is recorded by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tables import dsc_methods
from .deconvolution import deconvolve
from .signal import cumulative_integral

METHODS: tuple[str, ...] = ("bsw", "bjornerud", "none")


@dataclass(frozen=True)
class LeakageFit:
    """Corrected curves and the leakage parameters of every voxel."""

    corrected: np.ndarray  # (n, T) ΔR2*, 1/s
    k2: np.ndarray  # (n,) > 0: T1-dominant, < 0: T2*-dominant; per s (BSW) or per unit AIF (Bjørnerud)
    k1: np.ndarray | None  # (n,) BSW only: scale of the reference curve
    method: str
    k2_unit: str


def bsw_fit(curves: np.ndarray, reference: np.ndarray, times_s: np.ndarray, *, start: int = 0) -> LeakageFit:
    """Boxerman–Schmainda–Weisskoff fit of every curve to a reference (frames from ``start`` on)."""
    y = np.asarray(curves)
    ref = np.asarray(reference, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != ref.size or t.size != ref.size:
        raise ValueError(f"curves {y.shape}, reference {ref.shape} and times {t.shape} do not match")
    if not np.all(np.isfinite(ref)) or np.max(np.abs(ref)) == 0:
        raise ValueError("the BSW reference curve is empty or not finite")
    cum = cumulative_integral(ref - 0.0, t)
    design = np.stack([ref, -cum], axis=1)[start:]  # (T', 2)
    gram = design.T @ design
    if abs(np.linalg.det(gram)) < 1e-12 * np.trace(gram) ** 2:
        raise ValueError("the BSW reference curve and its integral are collinear: cannot separate leakage")
    coef = (y[:, start:] @ design.astype(y.dtype)) @ np.linalg.inv(gram).T.astype(y.dtype)  # (n, 2)
    k1, k2 = coef[:, 0], coef[:, 1]
    corrected = y + k2[:, None] * cum.astype(y.dtype)[None, :]
    return LeakageFit(corrected=corrected, k2=k2, k1=k1, method="bsw", k2_unit="1/s")


def non_enhancing_reference(
    curves: np.ndarray,
    times_s: np.ndarray,
    *,
    start: int = 0,
    exclude: np.ndarray | None = None,
    robust_sd: float | None = None,
    iterations: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole-brain non-enhancing (WBNE) reference curve and the voxels it averages.

    Starts from all brain voxels (less ``exclude``: lesions, AIF voxels), fits BSW, keeps the voxels
    whose K2 lies within ``robust_sd`` robust SDs of the median (no measurable leakage), and repeats.
    """
    table = dsc_methods()["leakage"]
    k = float(table["wbne_k2_robust_sd"] if robust_sd is None else robust_sd)
    n_iter = int(table["wbne_iterations"] if iterations is None else iterations)
    if k <= 0 or n_iter < 1:
        raise ValueError("robust_sd must be positive and iterations at least 1")
    y = np.asarray(curves)
    t = np.asarray(times_s, dtype=np.float64)
    keep = np.ones(y.shape[0], dtype=bool) if exclude is None else ~np.asarray(exclude, dtype=bool)
    if keep.sum() < 10:
        raise ValueError("fewer than 10 voxels left to build a non-enhancing reference curve")

    def mean_of(mask: np.ndarray) -> np.ndarray:
        # A weighted sum instead of y[mask].mean(): no copy of the selected curves.
        return (mask.astype(y.dtype) @ y).astype(np.float64) / max(int(mask.sum()), 1)

    for _ in range(n_iter):
        ref = mean_of(keep)
        cum = cumulative_integral(ref, t)
        design = np.stack([ref, -cum], axis=1)[start:]
        k2 = (y[:, start:] @ (design @ np.linalg.inv(design.T @ design)).astype(y.dtype))[:, 1]
        med = float(np.median(k2[keep]))
        mad = 1.4826 * float(np.median(np.abs(k2[keep] - med))) or 1e-12
        keep &= np.abs(k2 - med) <= k * mad
        if keep.sum() < 10:
            raise ValueError("fewer than 10 voxels left to build a non-enhancing reference curve")
    return mean_of(keep), np.flatnonzero(keep)


def bjornerud_correct(
    curves: np.ndarray,
    aif: np.ndarray,
    times_s: np.ndarray,
    *,
    tail_start_s: float | None = None,
    threshold: float | None = None,
) -> LeakageFit:
    """Bjørnerud 2011 residue-tail leakage correction of uniformly sampled curves.

    The residue is found by sSVD (no zero padding: a circulant deconvolution treats a leakage plateau
    that is still present at the end of the series as falling to zero, which bends the tail). The
    tail is fitted from ``tail_start_s`` after the arterial bolus (the transit of a voxel delayed by
    a few seconds has ended by then) to 90 % of the window.
    """
    y = np.asarray(curves)
    t = np.asarray(times_s, dtype=np.float64)
    n_t = t.size
    if y.ndim != 2 or y.shape[1] != n_t or np.asarray(aif).size != n_t:
        raise ValueError("curves, aif and times do not match")
    table = dsc_methods()["leakage"]
    start_s = float(table["residue_tail_start_s"] if tail_start_s is None else tail_start_s)
    p = float(table["residue_svd_threshold"] if threshold is None else threshold)
    if start_s <= 0:
        raise ValueError(f"tail_start_s must be positive, got {start_s}")
    dt = float(t[1] - t[0])
    ca = np.asarray(aif, dtype=np.float64)
    # Residues are relative to the AIF's own timing: shift the window by the AIF bolus arrival.
    onset = int(np.argmax(ca >= 0.1 * ca.max()))
    dec = deconvolve(y[:, onset:], ca[onset:], dt, method="ssvd", threshold=p)
    res = dec.residue.astype(np.float64)
    m = res.shape[1]
    tau = np.arange(m) * dt
    w = (tau >= start_s) & (np.arange(m) < int(0.9 * m))
    if w.sum() < 3:
        raise ValueError(
            f"the series is too short after the bolus for a residue tail beyond {start_s:g} s (Bjørnerud correction)"
        )
    design = np.stack([np.ones(int(w.sum())), tau[w]], axis=1)
    coef = res[:, w] @ design @ np.linalg.inv(design.T @ design).T  # (n, 2): a + b·tau
    a, b = coef[:, 0], coef[:, 1]
    i1 = np.zeros(n_t)
    i1[onset:] = cumulative_integral(ca[onset:], t[onset:])
    i2 = cumulative_integral(i1, t)
    leak = a[:, None] * i1[None, :] + b[:, None] * i2[None, :]
    corrected = (y - leak.astype(y.dtype)).astype(y.dtype)
    return LeakageFit(corrected=corrected, k2=-a, k1=None, method="bjornerud", k2_unit="1/(unit AIF)")
