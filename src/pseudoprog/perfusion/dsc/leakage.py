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

``"auto"`` (the default) — chooses between the two from the data, per lesion (or per voxel, on an in-plane
    median of its neighbours, outside lesions and when no lesion mask is given): BSW is fitted everywhere; where
    its K2 is negative (T2*-dominant leakage, which BSW corrects) or its correction changes CBV by less than
    ``auto_t1_min_bsw_correction`` (no leakage worth the change of model), BSW is kept — it is the consensus
    method (Boxerman et al., Neuro-Oncol 2020;22:1262-75) and the one the FTB thresholds were derived with. Where BSW
    finds T1-dominant leakage (K2 > 0) raising CBV by more than that fraction, the voxel's leakage is strong
    enough for BSW's linear, same-transit-time assumptions to fail (Bjørnerud 2011: BSW under-corrects strong
    T1 leakage) and the Bjørnerud correction is used. A recorded preload (which
    suppresses T1 effects) raises the threshold (``auto_t1_min_bsw_correction_with_preload``). T2*-dominant
    leakage strong enough for BSW to lower CBV by more than ``auto_t2_min_bsw_correction`` also goes to
    Bjørnerud, whose residue tail does not assume the lesion's transit time equals the reference's.

Both report K2 maps; the method used is recorded by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..tables import dsc_methods
from .deconvolution import deconvolve
from .signal import cumulative_integral, integral

METHODS: tuple[str, ...] = ("auto", "bsw", "bjornerud", "none")
DEFAULT = "auto"
# Codes of the per-voxel model map written by the "auto" choice.
MODEL_CODES: dict[str, int] = {"bsw": 1, "bjornerud": 2}


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
    assert dec.residue is not None  # kept by default
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


@dataclass(frozen=True)
class LeakageChoice:
    """The ``"auto"`` choice: corrected curves, the model of every voxel, and why."""

    corrected: np.ndarray  # (n, T)
    model: np.ndarray  # (n,) uint8, MODEL_CODES
    k2: np.ndarray  # (n,) BSW K2 (1/s): > 0 T1-dominant, < 0 T2*-dominant
    k1: np.ndarray  # (n,) BSW K1
    bsw_correction: np.ndarray  # (n,) relative CBV change made by BSW (> 0 raises CBV)
    regions: list[dict[str, Any]] = field(default_factory=list)  # one entry per lesion decided as a whole
    summary: dict[str, Any] = field(default_factory=dict)


def _reason(model: str, k2: float, change: float, threshold: float, t2_threshold: float, preload: bool | None) -> str:
    pre = {True: "preload recorded", False: "no preload", None: "preload not recorded"}[preload]
    if model == "bjornerud" and k2 < 0:
        return (
            f"strong T2*-dominant leakage (BSW K2 {k2:+.2e}/s < 0, BSW lowers CBV by {-100 * change:.0f} % > "
            f"{100 * t2_threshold:.0f} %): BSW's same-transit-time assumption matters at this size, Bjørnerud used"
        )
    if model == "bjornerud":
        return (
            f"T1-dominant leakage (BSW K2 {k2:+.2e}/s > 0) raising CBV by {100 * change:.0f} % under BSW, above "
            f"{100 * threshold:.0f} % with {pre}: BSW under-corrects such leakage, Bjørnerud's residue-tail model used"
        )
    if k2 < 0:
        return (
            f"T2*-dominant leakage (BSW K2 {k2:+.2e}/s < 0, CBV change {100 * change:+.0f} %, within "
            f"{100 * t2_threshold:.0f} %): BSW corrects it (consensus method)"
        )
    return (
        f"little T1-dominant leakage (BSW changes CBV by {100 * change:.0f} % ≤ {100 * threshold:.0f} % with {pre}): "
        "BSW kept (consensus method)"
    )


def auto_correct(
    curves: np.ndarray,
    reference: np.ndarray,
    aif: np.ndarray,
    times_s: np.ndarray,
    *,
    start: int = 0,
    regions: np.ndarray | None = None,
    neighbourhood: np.ndarray | None = None,
    preload: bool | None = None,
) -> LeakageChoice:
    """Choose BSW or Bjørnerud from the data (module docstring, ``"auto"``) and apply it.

    ``regions`` (n,) int labels a lesion per voxel (0: none): each lesion gets one model, decided on its median
    BSW correction and K2. ``neighbourhood`` (n,) of the BSW correction already smoothed over neighbouring voxels
    (the caller knows the grid) decides the other voxels; without it, each voxel's own value.
    """
    y = np.asarray(curves)
    t = np.asarray(times_s, dtype=np.float64)
    table = dsc_methods()["leakage"]
    key = "auto_t1_min_bsw_correction_with_preload" if preload else "auto_t1_min_bsw_correction"
    threshold = float(table[key])
    bsw = bsw_fit(y, reference, t, start=start)
    bj = bjornerud_correct(y, aif, t)
    area_u = integral(y, t, start=start).astype(np.float64)
    area_b = integral(bsw.corrected, t, start=start).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(np.abs(area_u) > 0, (area_b - area_u) / np.abs(area_u), 0.0)
    change = np.nan_to_num(change, nan=0.0, posinf=0.0, neginf=0.0)
    k2 = np.asarray(bsw.k2, dtype=np.float64)
    local = change if neighbourhood is None else np.asarray(neighbourhood, dtype=np.float64)
    t2_threshold = float(table["auto_t2_min_bsw_correction"])

    def pick(ch: np.ndarray, k: np.ndarray) -> np.ndarray:
        return ((ch > threshold) & (k > 0)) | ((ch < -t2_threshold) & (k < 0))

    use_bj = pick(local, k2)
    out_regions: list[dict[str, Any]] = []
    if regions is not None:
        lab = np.asarray(regions)
        for r in np.unique(lab[lab > 0]):
            sel = lab == r
            k2_r, ch_r = float(np.median(k2[sel])), float(np.median(change[sel]))
            choose_bj = bool(pick(np.array([ch_r]), np.array([k2_r]))[0])
            use_bj[sel] = choose_bj
            model = "bjornerud" if choose_bj else "bsw"
            out_regions.append(
                {
                    "region": int(r),
                    "n_voxels": int(sel.sum()),
                    "model": model,
                    "bsw_k2_median_per_s": k2_r,
                    "bsw_cbv_change_median": ch_r,
                    "reason": _reason(model, k2_r, ch_r, threshold, t2_threshold, preload),
                }
            )
    corrected = np.where(use_bj[:, None], bj.corrected, bsw.corrected).astype(y.dtype)
    model_codes = np.where(use_bj, MODEL_CODES["bjornerud"], MODEL_CODES["bsw"]).astype(np.uint8)
    summary = {
        "rule": (
            "per lesion (else per voxel on the in-plane median of its neighbours): Bjørnerud where BSW finds "
            f"T1-dominant leakage (K2 > 0) raising CBV by more than {100 * threshold:.0f} % or T2*-dominant "
            f"leakage (K2 < 0) lowering it by more than {100 * t2_threshold:.0f} %, else BSW"
        ),
        "threshold_bsw_cbv_change": threshold,
        "threshold_key": key,
        "threshold_t2_bsw_cbv_change": t2_threshold,
        "preload": preload,
        "voxels_bsw": int((~use_bj).sum()),
        "voxels_bjornerud": int(use_bj.sum()),
        "source": table["auto_source"],
    }
    return LeakageChoice(
        corrected=corrected,
        model=model_codes,
        k2=bsw.k2,
        k1=bsw.k1 if bsw.k1 is not None else np.zeros_like(bsw.k2),
        bsw_correction=change,
        regions=out_regions,
        summary=summary,
    )


def neighbourhood_median(values: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], *, size: int = 3) -> np.ndarray:
    """In-plane ``size`` × ``size`` median of per-voxel ``values`` at flat indices ``idx`` of ``shape``."""
    vol = np.full(int(np.prod(shape)), np.nan)
    vol[idx] = values
    vol = vol.reshape(shape)
    # Outside the brain counts as no leakage (0): a rim voxel needs most of its neighbours to agree.
    filled = np.where(np.isfinite(vol), vol, 0.0)
    med = ndimage.median_filter(filled, size=(size, size, 1), mode="nearest")
    return med.ravel()[idx]
