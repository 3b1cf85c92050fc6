"""DWI phantom: trace-weighted images at b = 0, 500 and 1000 s/mm² from the tissue labels.

Mono-exponential signal S0·exp(−b·ADC) per tissue, exact partial volume on a 3 mm × 3 mm × 6 mm grid, Rician
noise. ADC (10⁻³ mm²/s): CSF and cavity ≈ free water at 37 °C (3.0 / 2.9), grey 0.80 and white matter 0.70
(the OSIPI IVIM brain values are 0.81–0.86), oedema 1.4; viable tumour restricts diffusion (1.0) and treatment
effect does not (1.4) — the pooled means 1.13 vs 1.38 reported for progression vs treatment-related abnormality
(clinical_rules.md §2.4) [phantom values]. Truth in ``PhantomTimepoint.extras["dwi_truth"]``.
"""

from __future__ import annotations

import numpy as np

from ..case import SeriesKind
from .anatomy import Tissue
from .partial_volume import coarse_grid, tissue_table
from .writers import SyntheticSeries

B_VALUES = (0.0, 500.0, 1000.0)
GRID_FACTORS = (2, 2, 2)
S0_SCALE = 2000.0
NOISE_FRACTION = 0.01

ADC = {
    Tissue.CSF: 3.0e-3,
    Tissue.GREY_MATTER: 0.80e-3,
    Tissue.WHITE_MATTER: 0.70e-3,
    Tissue.OEDEMA: 1.4e-3,
    Tissue.TUMOUR_ENHANCING: 1.0e-3,
    Tissue.TREATMENT_EFFECT_ENHANCING: 1.4e-3,
    Tissue.NECROSIS: 1.6e-3,
    Tissue.CAVITY: 2.9e-3,
    Tissue.SCALP: 1.0e-3,
    Tissue.SKULL: 0.5e-3,
    Tissue.ARTERY: 1.5e-3,
}
S0 = {  # T2-weighted b = 0 signal, relative
    Tissue.CSF: 1.0,
    Tissue.GREY_MATTER: 0.55,
    Tissue.WHITE_MATTER: 0.45,
    Tissue.OEDEMA: 0.8,
    Tissue.TUMOUR_ENHANCING: 0.6,
    Tissue.TREATMENT_EFFECT_ENHANCING: 0.7,
    Tissue.NECROSIS: 0.85,
    Tissue.CAVITY: 1.0,
    Tissue.SCALP: 0.4,
    Tissue.SKULL: 0.02,
    Tissue.ARTERY: 0.1,
}


def dwi_series(tp) -> list[SyntheticSeries]:
    frac, aff = coarse_grid(tp.labels, tp.affine, GRID_FACTORS)
    rng = tp.rng("dwi")
    s0 = S0_SCALE * tissue_table(S0)
    adc = tissue_table(ADC)
    frames = [frac @ (s0 * np.exp(-b * adc)) for b in B_VALUES]
    sig = np.stack(frames, axis=-1)
    sd = NOISE_FRACTION * S0_SCALE
    noisy = np.sqrt((sig + rng.normal(0, sd, sig.shape)) ** 2 + rng.normal(0, sd, sig.shape) ** 2)
    tp.extras["dwi_truth"] = {
        "adc_mm2_s": {Tissue(t).name.lower(): v for t, v in ADC.items()},
        "b_values_s_per_mm2": list(B_VALUES),
    }
    return [
        SyntheticSeries(
            name="DWI",
            kind=SeriesKind.DWI,
            data=noisy.astype(np.float32),
            affine=aff,
            frame_times_s=np.arange(len(B_VALUES), dtype=float),
            echo_time_ms=80.0,
            repetition_time_ms=5000.0,
            flip_angle_deg=90.0,
            scanning_sequence="EP",
            sequence_variant="SK",
            b_values_s_per_mm2=B_VALUES,
        )
    ]
