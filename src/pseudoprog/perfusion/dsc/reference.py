"""The reference tissue that makes CBV relative: normal-appearing white matter (NAWM), automatically or from a mask.

Automatic choice (clinical_rules.md §2.1: normalise to contralateral NAWM; no consensus on the ROI):

1. **Side** — the brain's midline is the plane through the brain mask's centroid oriented as the mask's
   mirror-symmetry plane (:func:`pseudoprog.perfusion.reference_region.midline_normal`: a head turned in the
   scanner keeps its own midline; world left-right when no symmetry plane can be trusted); the reference is taken
   from the hemisphere opposite the lesions' centroid, more than 5 mm from the midline. Without lesions both
   hemispheres are used.
2. **Tissue** — lesions (dilated by ``lesion_margin_mm``), AIF voxels, CSF-like voxels (the brightest
   10 % of S0 on T2*-weighted EPI) and voxels with near-zero or vessel-like CBV are excluded.
3. **White matter** — in-plane 3×3 smoothed log CBV is split into two Gaussian classes by
   expectation-maximisation; white matter is the lower class (about half the CBV of grey matter:
   Leenders et al., Brain 1990;113:27-47). Voxels with a white-matter posterior above ``wm_posterior``
   whose in-plane neighbours are also candidates are kept (edge voxels mix grey and white matter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...errors import CannotAssessError
from ..reference_region import Midline, midline_normal
from ..tables import dsc_methods

_MIDLINE_GAP_MM = 5.0
_PLANE = np.zeros((3, 3, 3), dtype=bool)
_PLANE[:, :, 1] = True


@dataclass(frozen=True)
class Reference:
    mask: np.ndarray  # bool, spatial grid
    method: str  # "auto-contralateral-nawm" | "auto-nawm-both-hemispheres" | "mask"
    note: str


def _two_class_em(
    x: np.ndarray, iterations: int = 40, max_fit: int = 5000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-Gaussian mixture of a 1D sample by EM; returns (posterior of the lower class, means, sds).

    The mixture is fitted on at most ``max_fit`` evenly spaced samples, then evaluated on all.
    """
    all_x = x
    if x.size > max_fit:
        x = np.sort(x)[np.linspace(0, x.size - 1, max_fit).astype(int)]
    mu = np.percentile(x, [25, 75]).astype(np.float64)
    sd = np.full(2, max(float(np.std(x)) / 2, 1e-6))
    w = np.array([0.5, 0.5])
    post = np.full((x.size, 2), 0.5)
    for _ in range(iterations):
        dens = w / sd * np.exp(-0.5 * ((x[:, None] - mu) / sd) ** 2)
        post = dens / np.maximum(dens.sum(axis=1, keepdims=True), 1e-300)
        nk = post.sum(axis=0) + 1e-12
        w = nk / x.size
        mu = (post * x[:, None]).sum(axis=0) / nk
        sd = np.sqrt((post * (x[:, None] - mu) ** 2).sum(axis=0) / nk) + 1e-6
    dens = w / sd * np.exp(-0.5 * ((all_x[:, None] - mu) / sd) ** 2)
    post = dens / np.maximum(dens.sum(axis=1, keepdims=True), 1e-300)
    lower = int(np.argmin(mu))
    return post[:, lower], mu, sd


def dilated_by_box(mask: np.ndarray, half_widths: tuple[int, ...]) -> np.ndarray:
    """``mask`` dilated by a box of ``2 h + 1`` voxels along each axis: the voxels of
    ``ndimage.binary_dilation(mask, structure=np.ones(2 h + 1))`` (outside the image is not in the mask for both),
    as a maximum filter — separable 1-D passes, ~100x faster than the 3-D structure on a DSC grid."""
    size = tuple(2 * int(h) + 1 for h in half_widths)
    return ndimage.maximum_filter(np.asarray(mask, dtype=bool), size=size, mode="constant", cval=0)


def auto_nawm(
    cbv: np.ndarray,
    s0: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    *,
    lesion: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
    midline: Midline | None = None,
) -> Reference:
    """Automatic contralateral normal-appearing white matter (see the module notes); ``midline`` orients the plane
    between the hemispheres (the timepoint's, found on its T1c), else the brain mask's own is searched."""
    table = dsc_methods()["reference"]
    need = int(table["min_voxels"])
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    cand = brain.copy()
    note = ""
    method = "auto-contralateral-nawm"
    if lesion is not None and lesion.any():
        # Signed distance (mm) of every voxel from the midline plane: normal . (x - brain centroid).
        normal, plane = midline_normal(brain, affine, "brain", midline)
        across = (normal @ affine[:3, :3]).astype(np.float64)
        ijk = np.indices(brain.shape).reshape(3, -1)
        signed = (across @ ijk + float(normal @ affine[:3, 3])).reshape(brain.shape)
        signed -= float(signed[brain].mean())
        side = np.sign(float(signed[lesion].mean())) or 1.0
        cand &= signed * side < -_MIDLINE_GAP_MM
        margin_vox = np.maximum(1, np.round(float(table["lesion_margin_mm"]) / spacing).astype(int))
        grown = dilated_by_box(lesion, tuple(int(v) for v in margin_vox))
        cand &= ~grown
        note = f"hemisphere opposite the lesion, more than {_MIDLINE_GAP_MM:.0f} mm from the midline: {plane}"
    else:
        method = "auto-nawm-both-hemispheres"
        note = "no lesion mask: white matter of both hemispheres"
    if exclude is not None:
        cand &= ~ndimage.binary_dilation(exclude, structure=_PLANE, iterations=1)
    finite = np.isfinite(cbv) & brain
    if finite.sum() < need:
        raise CannotAssessError("too few brain voxels with a finite CBV to find a white-matter reference")
    med = float(np.median(cbv[finite]))
    s0_cut = float(np.percentile(s0[brain], 90))
    cand &= finite & (cbv > 0.25 * med) & (cbv < 4.0 * med) & (s0 < s0_cut)
    # In-plane smoothing of CBV within the candidates (normalised convolution).
    w = ndimage.uniform_filter(cand.astype(np.float64), size=(3, 3, 1))
    v = ndimage.uniform_filter(np.where(cand, cbv, 0.0), size=(3, 3, 1))
    smooth = np.where(w > 0, v / np.maximum(w, 1e-12), 0.0)
    if cand.sum() < need:
        raise CannotAssessError(f"only {int(cand.sum())} candidate reference voxels (need {need}) for NAWM")
    post, mu, _ = _two_class_em(np.log(np.maximum(smooth[cand], 1e-12)))
    wm = np.zeros_like(cand)
    wm[cand] = post > float(table["wm_posterior"])
    core = wm & ndimage.binary_erosion(cand, structure=_PLANE)
    chosen = core if core.sum() >= need else wm
    if chosen.sum() < need:
        raise CannotAssessError(
            f"automatic white-matter reference found only {int(chosen.sum())} voxels (need {need}): give a "
            "reference mask"
        )
    ratio = float(np.exp(mu.max() - mu.min()))
    note += f"; two-class CBV mixture, grey/white CBV ratio {ratio:.2f}; {int(chosen.sum())} voxels"
    return Reference(mask=chosen, method=method, note=note)


def reference_from_mask(mask: np.ndarray, brain: np.ndarray, cbv: np.ndarray) -> Reference:
    """A user's reference mask (on the DSC grid), restricted to brain voxels with a finite CBV."""
    m = np.asarray(mask, dtype=bool) & brain & np.isfinite(cbv)
    need = int(dsc_methods()["reference"]["min_voxels"])
    if m.sum() < max(3, need // 4):
        raise CannotAssessError(f"the reference mask covers only {int(m.sum())} brain voxels of the DSC series")
    return Reference(mask=m, method="mask", note=f"user mask, {int(m.sum())} voxels")
