"""ASL phantom: single-PLD pCASL control/label pairs and a separate M0 image from the tissue labels.

Signals follow the white-paper single-compartment model (Alsop et al., MRM 2015; clinical_rules.md §5.3) with its
default implementation: pCASL, label duration 1.8 s, PLD 1.8 s, 3 T (T1 of blood 1.65 s, labelling efficiency 0.85,
λ 0.9 ml/g). CBF per tissue: grey matter 60 and white matter 20 ml/100 g/min (the ASL DRO values), viable tumour
hyperperfused (90), treatment effect hypoperfused (25) — the direction reported for recurrence vs radiation injury
(clinical_rules.md §2.3) [phantom values]. The grid has 3 mm in-plane and 6 mm slices; 4 label/control pairs with
Gaussian noise. Truth in ``PhantomTimepoint.extras["asl_truth"]``.
"""

from __future__ import annotations

import numpy as np

from ..case import SeriesKind
from .anatomy import Tissue
from .partial_volume import PROTON_DENSITY as PD
from .partial_volume import coarse_grid, tissue_table
from .writers import SyntheticSeries

TAU_S, PLD_S, T1B_S, ALPHA, LAMBDA = 1.8, 1.8, 1.65, 0.85, 0.9
PAIRS = 4
GRID_FACTORS = (2, 2, 2)
M0_SCALE = 3000.0
NOISE_FRACTION = 0.002

CBF = {
    Tissue.GREY_MATTER: 60.0,
    Tissue.WHITE_MATTER: 20.0,
    Tissue.OEDEMA: 25.0,
    Tissue.TUMOUR_ENHANCING: 90.0,
    Tissue.TREATMENT_EFFECT_ENHANCING: 25.0,
    Tissue.NECROSIS: 5.0,
}


def asl_series(tp) -> list[SyntheticSeries]:
    frac, aff = coarse_grid(tp.labels, tp.affine, GRID_FACTORS)
    rng = tp.rng("asl")
    m0 = M0_SCALE * (frac @ tissue_table(PD))
    # ΔM per tissue from the white-paper model, weighted by the tissue's own M0 (partial volume is linear)
    per_tissue = (
        tissue_table(CBF)
        * tissue_table(PD)
        * M0_SCALE
        * 2
        * ALPHA
        * T1B_S
        * (1 - np.exp(-TAU_S / T1B_S))
        * np.exp(-PLD_S / T1B_S)
        / (6000.0 * LAMBDA)
    )
    delta_m = frac @ per_tissue
    control = 0.95 * m0  # a little saturation from the labelling pulses [phantom value]
    sd = NOISE_FRACTION * M0_SCALE
    vols = []
    for _ in range(PAIRS):
        vols.append(control + rng.normal(0, sd, m0.shape))
        vols.append(control - 0.95 * delta_m + rng.normal(0, sd, m0.shape))
    series = [
        SyntheticSeries(
            name="ASL",
            kind=SeriesKind.ASL,
            data=np.clip(np.stack(vols, axis=-1), 0, None).astype(np.float32),
            affine=aff,
            frame_times_s=np.arange(2 * PAIRS) * 4.5,
            echo_time_ms=11.0,
            repetition_time_ms=4500.0,
            flip_angle_deg=90.0,
            scanning_sequence="GR",
            extra_json={
                "ArterialSpinLabelingType": "PCASL",
                "PostLabelingDelay": PLD_S,
                "LabelingDuration": TAU_S,
                "M0Type": "Separate",
                "BackgroundSuppression": False,
            },
        ),
        SyntheticSeries(
            name="M0",
            kind=SeriesKind.M0,
            data=np.clip(m0 + rng.normal(0, sd, m0.shape), 0, None).astype(np.float32),
            affine=aff,
            echo_time_ms=11.0,
            repetition_time_ms=8000.0,
            flip_angle_deg=90.0,
            scanning_sequence="GR",
        ),
    ]
    tp.extras["asl_truth"] = {
        "cbf_ml_100g_min": {Tissue(t).name.lower(): v for t, v in CBF.items()},
        "labelling": "PCASL",
        "label_duration_s": TAU_S,
        "post_labelling_delay_s": PLD_S,
        "pairs": PAIRS,
        "order": "control first",
    }
    return series
