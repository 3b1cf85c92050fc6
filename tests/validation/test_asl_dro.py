"""ASL DRO (asldro ground truth, ICBM 2009a, 3 T) → simulated pCASL and PASL label/control images → CBF.

The images are simulated from the DRO's CBF, transit-time and M0 maps with Buxton's general kinetic model
(MRM 1998;40:383–396) under the white paper's assumption that the label relaxes with T1 of blood (then, for
transit time < PLD, the signal does not depend on the transit time), Gaussian noise and 8 label/control pairs.
Acceptance (the issue): mean CBF in grey matter 60 ± 3 and in white matter 20 ± 1.5 ml/100 g/min.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.perfusion.asl import compute_asl_cbf
from tests.conftest import shared_data

pytestmark = pytest.mark.validation
T1B, LAM = 1.65, 0.9  # the DRO's parameters (hrgt_icbm_2009a_nls_3t.json)


@pytest.fixture(scope="module")
def dro():
    path = shared_data("asldro-ground-truth", "hrgt_icbm_2009a_nls_3t.nii.gz")
    meta = json.loads(path.with_name("hrgt_icbm_2009a_nls_3t.json").read_text())
    assert meta["parameters"]["t1_arterial_blood"] == T1B and meta["parameters"]["lambda_blood_brain"] == LAM
    q = meta["quantities"]
    data = np.asarray(nib.load(str(path)).dataobj[:, :, 84:100:3, 0, :], dtype=float)  # 6 axial slices
    return {name: data[..., q.index(name)] for name in ("perfusion_rate", "transit_time", "m0", "seg_label")}


def _gkm_pcasl(f, att, m0, *, tau, pld, alpha):
    t = tau + pld
    dm = np.zeros_like(f)
    arrived = att < t
    during = arrived & (t < tau + att)
    after = t >= tau + att
    k = 2 * alpha * m0 * (f / 6000.0) / LAM
    dm[during] = (k * T1B * np.exp(-att / T1B) * (1 - np.exp(-(t - att) / T1B)))[during]
    dm[after] = (k * T1B * np.exp(-att / T1B) * (1 - np.exp(-tau / T1B)) * np.exp(-(t - tau - att) / T1B))[after]
    return dm


def _gkm_pasl(f, att, m0, *, ti, ti1, alpha):
    k = 2 * alpha * m0 * (f / 6000.0) / LAM
    dm = np.zeros_like(f)
    full = ti >= ti1 + att
    part = (ti > att) & ~full
    dm[full] = (k * ti1 * np.exp(-ti / T1B))[full]
    dm[part] = (k * (ti - att) * np.exp(-ti / T1B))[part]
    return dm


def _images(dm, m0, pairs, rng, noise_fraction=0.002):
    sd = noise_fraction * np.percentile(m0[m0 > 0], 90)
    vols = []
    for _ in range(pairs):
        vols += [m0 + rng.normal(0, sd, m0.shape), m0 - dm + rng.normal(0, sd, m0.shape)]
    return np.stack(vols, axis=-1)


def _check(cbf, seg):
    gm, wm = np.nanmean(cbf[seg == 1]), np.nanmean(cbf[seg == 2])
    print(f"\nCBF GM {gm:.2f} (60 ± 3), WM {wm:.2f} (20 ± 1.5) ml/100 g/min")
    assert abs(gm - 60) <= 3
    assert abs(wm - 20) <= 1.5


def test_pcasl_cbf_from_simulated_images(dro):
    rng = np.random.default_rng(7)
    f, att, m0, seg = dro["perfusion_rate"], dro["transit_time"], dro["m0"], dro["seg_label"]
    dm = _gkm_pcasl(f, att, m0, tau=1.8, pld=1.8, alpha=0.85)
    series = _images(dm, m0, 8, rng)
    res = compute_asl_cbf(
        series,
        m0=m0 + rng.normal(0, 0.002 * np.percentile(m0[m0 > 0], 90), m0.shape),
        metadata={"ArterialSpinLabelingType": "PCASL", "PostLabelingDelay": 1.8, "LabelingDuration": 1.8},
        field_strength_t=3.0,
    )
    assert res.parameters["t1_blood_s"] == T1B and res.parameters["labelling_efficiency"] == 0.85
    _check(res.cbf_ml_100g_min, seg)


def test_pasl_cbf_from_simulated_images(dro):
    rng = np.random.default_rng(8)
    f, att, m0, seg = dro["perfusion_rate"], dro["transit_time"], dro["m0"], dro["seg_label"]
    # TI ≥ TI1 + the longest transit time (WM 1.2 s), as QUIPSS II requires for the full bolus
    dm = _gkm_pasl(f, att, m0, ti=2.1, ti1=0.8, alpha=0.98)
    res = compute_asl_cbf(
        _images(dm, m0, 8, rng),
        m0=m0,
        metadata={"ArterialSpinLabelingType": "PASL", "PostLabelingDelay": 2.1, "BolusCutOffDelayTime": 0.8},
        field_strength_t=3.0,
    )
    _check(res.cbf_ml_100g_min, seg)
