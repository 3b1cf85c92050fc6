"""Leakage correction against the physically modelled DSC phantom (phantoms/dsc.py), whose rCBV is known.

Each condition is a 64-voxel lesion ROI (Rician noise, SNR 80) with true rCBV 0.8-5 against 400 white-matter
voxels, a Tofts leak (Ktrans 0.01-0.06 /min, ve 0.3), a lesion transit time (MTT 4 s) different from the
reference's (5.5 s) and a 1 s later arrival:

* T1-dominant: 60° flip, TR 1.5 s, no preload, weak extravascular T2* effect (r2*_e 2 /s/mM);
* T2*-dominant: 30° flip, TR 1.5 s, strong extravascular T2* effect (r2*_e 40 /s/mM).

Tolerance (issue 3): corrected rCBV within 10 % of truth wherever the uncorrected rCBV is off by more than 20 %.
The Bjørnerud residue-tail correction must meet it everywhere; BSW must meet it for T2*-dominant and mild T1
leakage, and is shown to miss it for strong T1 leakage (the reason a second method is offered).
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion.dsc import leakage as lk
from pseudoprog.perfusion.dsc.signal import delta_r2s, detect_baseline, integral
from pseudoprog.phantoms.dsc import DSCProtocol, tissue_signal

pytestmark = pytest.mark.validation

WM_CBV = 0.022  # ml/ml
RCBV = (0.8, 1.5, 3.0, 5.0)
KTRANS = (0.01, 0.03, 0.06)  # /min
N_ROI, N_REF = 64, 400


def _errors(kind: str) -> dict[str, np.ndarray]:
    """Relative rCBV error (estimate / truth − 1) per condition for no correction, BSW and Bjørnerud."""
    rng = np.random.default_rng(11 if kind == "T1" else 12)
    prot = DSCProtocol(flip_deg=60.0 if kind == "T1" else 30.0, n_frames=62)
    r2e = 2.0 if kind == "T1" else 40.0
    r, k = (a.ravel() for a in np.meshgrid(RCBV, KTRANS, indexing="ij"))
    n = r.size
    lesion, artery = tissue_signal(
        prot,
        s0=np.ones(n),
        t10_s=np.full(n, 1.6),
        cbv=r * WM_CBV,
        cbf_per_s=r * WM_CBV / 4.0,
        ktrans_per_min=k,
        ve=np.full(n, 0.3),
        r2s_e_per_mM_s=np.full(n, r2e),
        delay_s=1.0,
    )
    wm, _ = tissue_signal(
        prot,
        s0=[1.0],
        t10_s=[0.85],
        cbv=[WM_CBV],
        cbf_per_s=[WM_CBV / 5.5],
        ktrans_per_min=[0.0],
        ve=[0.0],
        r2s_e_per_mM_s=[0.0],
    )

    def noisy(x: np.ndarray, copies: int) -> np.ndarray:
        x = np.repeat(x, copies, axis=0)
        sd = prot.noise_fraction
        return np.sqrt((x + rng.normal(0, sd, x.shape)) ** 2 + rng.normal(0, sd, x.shape) ** 2)

    les, ref, art = noisy(lesion, N_ROI), noisy(wm, N_REF), noisy(1.1 * artery[None], 8)
    base = detect_baseline(ref.mean(axis=0))
    t = prot.times_s
    d = delta_r2s(np.vstack([les, ref, art]), base, te_ms=prot.te_ms).astype(np.float64)
    d_les, d_ref, aif = d[: n * N_ROI], d[n * N_ROI : n * N_ROI + N_REF], d[-8:].mean(axis=0)
    ref_area = float(np.median(integral(d_ref, t, start=base.start)))
    curves = {
        "none": d_les,
        "bsw": lk.bsw_fit(d_les, d_ref.mean(axis=0), t, start=base.start).corrected,
        "bjornerud": lk.bjornerud_correct(d_les, aif, t).corrected,
    }
    return {
        m: (integral(c, t, start=base.start) / ref_area).reshape(n, N_ROI).mean(axis=1) / r - 1
        for m, c in curves.items()
    } | {"ktrans": k, "rcbv": r}


@pytest.fixture(scope="module", params=["T1", "T2*"])
def leak(request):
    return request.param, _errors("T1" if request.param == "T1" else "T2")


def test_uncorrected_rcbv_is_biased_in_the_expected_direction(leak) -> None:
    kind, e = leak
    biased = np.abs(e["none"]) > 0.20
    assert biased.sum() >= (8 if kind == "T1" else 6)
    assert np.all(np.sign(e["none"][biased]) == (-1 if kind == "T1" else 1))  # T1 lowers, T2* raises


def test_bjornerud_corrected_rcbv_within_10_percent(leak) -> None:
    _, e = leak
    biased = np.abs(e["none"]) > 0.20
    assert np.all(np.abs(e["bjornerud"][biased]) <= 0.10), e["bjornerud"]
    assert np.all(np.abs(e["bjornerud"]) <= 0.10)


def test_bsw_meets_the_tolerance_where_its_assumptions_hold_and_not_for_strong_t1_leakage(leak) -> None:
    kind, e = leak
    if kind == "T2*":
        assert np.all(np.abs(e["bsw"]) <= 0.10), e["bsw"]
    else:
        mild = e["ktrans"] <= 0.01
        assert np.all(np.abs(e["bsw"][mild]) <= 0.10)
        strong = (e["ktrans"] >= 0.06) & (e["rcbv"] <= 1.5)
        assert np.all(e["bsw"][strong] < -0.10)  # BSW under-corrects strong T1 leakage (saturating T1 effect)
