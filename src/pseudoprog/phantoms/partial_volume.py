"""Coarser acquisition grids for the physiological phantoms, with exact partial-volume tissue fractions.

Perfusion and diffusion series are acquired at lower resolution than the structural ones (clinical_rules.md §4.5:
DCE 5 mm slices, DSC 3–5 mm, DWI similar). A coarse voxel is a block of fine voxels; its signal is the sum over
tissues of (fraction of the block in that tissue) × (that tissue's signal), which is how partial volume works
for any signal that adds linearly (concentration, magnetisation).
"""

from __future__ import annotations

import numpy as np

from .anatomy import Tissue

N_TISSUES = max(int(t) for t in Tissue) + 1

# Relative proton density per tissue: the equilibrium magnetisation M0 the DCE and ASL phantoms share.
PROTON_DENSITY = {
    Tissue.CSF: 1.0,
    Tissue.GREY_MATTER: 0.85,
    Tissue.WHITE_MATTER: 0.72,
    Tissue.OEDEMA: 0.9,
    Tissue.TUMOUR_ENHANCING: 0.85,
    Tissue.TREATMENT_EFFECT_ENHANCING: 0.87,
    Tissue.NECROSIS: 0.9,
    Tissue.CAVITY: 0.98,
    Tissue.SCALP: 0.7,
    Tissue.SKULL: 0.05,
    Tissue.ARTERY: 0.9,
}


def coarse_grid(labels: np.ndarray, affine: np.ndarray, factors: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Tissue fractions on a grid ``factors`` times coarser, and that grid's affine.

    Returns ``(fractions (ci, cj, ck, N_TISSUES), affine)``; trailing fine voxels that do not fill a block are
    dropped. The coarse voxel centre is the centre of its block.
    """
    fi, fj, fk = factors
    ci, cj, ck = labels.shape[0] // fi, labels.shape[1] // fj, labels.shape[2] // fk
    lab = labels[: ci * fi, : cj * fj, : ck * fk].astype(np.intp)
    onehot = np.zeros((ci * fi, cj * fj, ck * fk, N_TISSUES), np.float32)
    np.put_along_axis(onehot, lab[..., None], 1.0, axis=-1)
    frac = onehot.reshape(ci, fi, cj, fj, ck, fk, N_TISSUES).mean(axis=(1, 3, 5))
    aff = affine.copy()
    aff[:3, :3] = affine[:3, :3] * np.array(factors, dtype=float)
    aff[:3, 3] = affine[:3, :3] @ ((np.array(factors, dtype=float) - 1) / 2) + affine[:3, 3]
    return frac, aff


def tissue_table(values: dict[Tissue, float], default: float = 0.0) -> np.ndarray:
    """A per-label lookup vector from a {Tissue: value} table."""
    out = np.full(N_TISSUES, default, dtype=float)
    for t, v in values.items():
        out[int(t)] = v
    return out
