"""DCE-MRI phantom: variable-flip-angle pre-contrast series and a dynamic SPGR series from the tissue labels.

A digital reference object in the spirit of the QIBA DCE DRO (Barboriak): every tissue has a native T1 and
extended-Tofts parameters; the arterial input is the Parker population AIF (plasma, Hct 0.42) from a bolus at
30 s; the tissue concentration is computed with the same exact convolution as the analysis
(:func:`pseudoprog.perfusion.dce.model_curves`), partial volume is exact on a 3 mm × 3 mm × 6 mm grid
(clinical_rules.md §4.5.1: DCE 5 mm slices) over a 96 mm slab, and the SPGR signal gets Rician noise.

Tissue values (3 T). Native T1: grey matter 1.4 s, white matter 0.9 s, CSF 4.0 s, arterial blood 1.65 s
(Alsop et al., MRM 2015), lesions 1.5–2.0 s [phantom values]. Pharmacokinetics: intact blood–brain barrier
(Ktrans 0) with vp 0.03 in grey and 0.015 in white matter; viable tumour leaks and is hypervascular (Ktrans
0.12 /min, ve 0.3, vp 0.08); treatment effect leaks less and has low vp (Ktrans 0.05 /min, ve 0.35, vp 0.02) —
the direction reported for pseudoprogression (Thomas et al. 2015; clinical_rules.md §2.2). The artery holds
whole blood (vp = 1 − Hct of plasma). Truth is recorded in ``PhantomTimepoint.extras["dce_truth"]``.
"""

from __future__ import annotations

import numpy as np

from ..case import SeriesKind
from ..perfusion import dce as dce_model
from ..perfusion.dce.t1mapping import spgr_signal
from .anatomy import Tissue
from .partial_volume import PROTON_DENSITY as PD
from .partial_volume import coarse_grid, tissue_table
from .writers import SyntheticSeries

HCT = 0.42
RELAXIVITY = 5.0  # gadobutrol at 3 T (perfusion/data/dce_constants.yaml)
TR_MS, TE_MS, FLIP_DEG = 5.0, 2.0, 15.0
VFA_FLIPS_DEG = (2.0, 10.0, 15.0)
FRAME_INTERVAL_S, N_FRAMES, BOLUS_S = 7.5, 41, 30.0
GRID_FACTORS = (2, 2, 2)
SLAB_SLICES = 16  # a 96 mm slab through the middle of the head (lesions and the middle cerebral arteries), as
# DCE is often acquired as a slab; it also keeps the DICOM phantom small
M0 = 4000.0
NOISE_FRACTION = 0.0015  # noise SD as a fraction of M0: SNR ≈ 15–20 in white matter before contrast

T10_S = {
    Tissue.CSF: 4.0,
    Tissue.GREY_MATTER: 1.4,
    Tissue.WHITE_MATTER: 0.9,
    Tissue.OEDEMA: 1.6,
    Tissue.TUMOUR_ENHANCING: 1.5,
    Tissue.TREATMENT_EFFECT_ENHANCING: 1.6,
    Tissue.NECROSIS: 2.0,
    Tissue.CAVITY: 3.5,
    Tissue.SCALP: 0.5,
    Tissue.SKULL: 0.4,
    Tissue.ARTERY: 1.65,
}
# (Ktrans 1/min, ve, vp)
PK = {
    Tissue.GREY_MATTER: (0.0, 0.2, 0.03),
    Tissue.WHITE_MATTER: (0.0, 0.2, 0.015),
    Tissue.OEDEMA: (0.005, 0.4, 0.015),
    Tissue.TUMOUR_ENHANCING: (0.12, 0.3, 0.08),
    Tissue.TREATMENT_EFFECT_ENHANCING: (0.05, 0.35, 0.02),
    Tissue.NECROSIS: (0.005, 0.5, 0.0),
    Tissue.SCALP: (0.1, 0.2, 0.05),
    Tissue.ARTERY: (0.0, 0.2, 1.0 - HCT),
}


def tissue_concentrations(t_s: np.ndarray) -> np.ndarray:
    """Concentration curve (mM) of every tissue label: shape (n_labels, T)."""
    from .partial_volume import N_TISSUES

    cp = dce_model.parker_plasma_input(t_s, arrival_s=BOLUS_S, haematocrit=HCT)
    out = np.zeros((N_TISSUES, t_s.size))
    tissues = list(PK)
    kt = np.array([PK[t][0] for t in tissues])
    ve = np.array([PK[t][1] for t in tissues])
    vp = np.array([PK[t][2] for t in tissues])
    curves = dce_model.model_curves("extended_tofts", t_s, cp, ktrans=kt, ve=ve, vp=vp)
    for t, c in zip(tissues, curves, strict=True):
        out[int(t)] = c
    return out


def dce_series(tp) -> list[SyntheticSeries]:
    """Three VFA series (2°, 10°, 15°) and a 41-frame DCE series (7.5 s per frame, 5 min) on 6 mm slices."""
    frac, aff = coarse_grid(tp.labels, tp.affine, GRID_FACTORS)
    k0 = max(0, (frac.shape[2] - SLAB_SLICES) // 2)
    frac = frac[:, :, k0 : k0 + SLAB_SLICES]
    aff = aff.copy()
    aff[:3, 3] = aff[:3, 3] + k0 * aff[:3, 2]
    rng = tp.rng("dce")
    t_s = np.arange(N_FRAMES) * FRAME_INTERVAL_S
    r10 = frac @ (1.0 / tissue_table(T10_S, default=4.0))  # partial-volume R1 (fast exchange between tissues)
    m0 = M0 * (frac @ tissue_table(PD))
    conc = frac.reshape(-1, frac.shape[-1]) @ tissue_concentrations(t_s)
    conc = conc.reshape(*frac.shape[:3], t_s.size)
    sd = NOISE_FRACTION * M0
    out = []
    for fa in VFA_FLIPS_DEG:
        s = spgr_signal(m0, r10, fa, TR_MS / 1000.0)
        out.append(
            SyntheticSeries(
                name=f"VFA_FA{fa:02.0f}",
                kind=SeriesKind.VFA_T1,
                data=_rician(s, sd, rng).astype(np.float32),
                affine=aff,
                echo_time_ms=TE_MS,
                repetition_time_ms=TR_MS,
                flip_angle_deg=fa,
                scanning_sequence="GR",
                sequence_variant="SP",
            )
        )
    dyn = spgr_signal(m0[..., None], r10[..., None] + RELAXIVITY * conc, FLIP_DEG, TR_MS / 1000.0).astype(np.float32)
    out.append(
        SyntheticSeries(
            name="DCE",
            kind=SeriesKind.DCE,
            data=_rician(dyn, sd, rng).astype(np.float32),
            affine=aff,
            frame_times_s=t_s,
            echo_time_ms=TE_MS,
            repetition_time_ms=TR_MS,
            flip_angle_deg=FLIP_DEG,
            contrast=True,
            scanning_sequence="GR",
            sequence_variant="SP",
            extra_json={"ContrastBolusAgent": "gadobutrol"},
        )
    )
    tp.extras["dce_truth"] = {
        "ktrans_per_min": {Tissue(t).name.lower(): v[0] for t, v in PK.items()},
        "ve": {Tissue(t).name.lower(): v[1] for t, v in PK.items()},
        "vp": {Tissue(t).name.lower(): v[2] for t, v in PK.items()},
        "t10_s": {Tissue(t).name.lower(): v for t, v in T10_S.items()},
        "aif": "Parker population AIF, plasma, Hct 0.42, bolus arrival 30 s",
        "relaxivity_per_mM_s": RELAXIVITY,
        "grid_factors": list(GRID_FACTORS),
        "slab_first_coarse_slice": int(k0),
    }
    return out


def _rician(signal: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    real = signal.astype(np.float32) + np.float32(sd) * rng.standard_normal(signal.shape, dtype=np.float32)
    imag = np.float32(sd) * rng.standard_normal(signal.shape, dtype=np.float32)
    return np.sqrt(real**2 + imag**2)
