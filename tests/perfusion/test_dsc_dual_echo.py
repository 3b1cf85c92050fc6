"""Dual-echo input to the whole model: the T1 leakage effect cancels, so uncorrected rCBV is already right."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.case import Volume
from pseudoprog.perfusion.dsc.model import DSCModel
from pseudoprog.phantoms.dsc import DSCProtocol, tissue_signal

WM_CBV = 0.022


def _volumes() -> tuple[Volume, Volume, dict[str, np.ndarray]]:
    prot = DSCProtocol(n_frames=62, flip_deg=60.0)
    shape = (12, 12, 2)
    n = int(np.prod(shape))
    kind = np.zeros(n, dtype=int)  # 0 white matter, 1 leaky tumour, 2 artery
    kind[:40] = 1
    kind[40:44] = 2
    cbv = np.where(kind == 1, 3.0 * WM_CBV, WM_CBV)
    mtt = np.where(kind == 1, 4.0, 5.5)
    rng = np.random.default_rng(5)
    echoes = []
    for te in (5.0, 30.0):
        sig, art = tissue_signal(
            prot,
            s0=np.ones(n),
            t10_s=np.where(kind == 1, 1.6, 0.85),
            cbv=cbv,
            cbf_per_s=cbv / mtt,
            ktrans_per_min=np.where(kind == 1, 0.05, 0.0),
            ve=np.full(n, 0.3),
            r2s_e_per_mM_s=np.zeros(n),  # pure T1 leakage: removed exactly by the dual-echo combination
            te_ms=te,
        )
        sig[kind == 2] = art
        sig = 1000 * sig + rng.normal(0, 2.0, sig.shape)
        echoes.append(Volume(sig.reshape(*shape, -1).astype(np.float32), np.diag([2.0, 2.0, 5.0, 1.0]), prot.times_s))
    masks = {
        "aif": (kind == 2).reshape(shape),
        "ref": (kind == 0).reshape(shape) & ~np.isin(np.arange(n), np.arange(40, 50)).reshape(shape),
        "tumour": (kind == 1).reshape(shape),
    }
    return echoes[0], echoes[1], masks


def test_dual_echo_removes_t1_leakage_from_rcbv() -> None:
    e1, e2, m = _volumes()
    brain = np.ones(e1.spatial_shape, dtype=bool)
    dual = DSCModel(te_ms=5.0, te2_ms=30.0, leakage="none").fit(
        e1, echo2=e2, aif_mask=m["aif"], reference_mask=m["ref"], brain=brain
    )
    single = DSCModel(te_ms=30.0, leakage="none").fit(e2, aif_mask=m["aif"], reference_mask=m["ref"], brain=brain)
    truth = 3.0
    got_dual = float(np.median(dual.maps["rcbv"].data[m["tumour"]]))
    got_single = float(np.median(single.maps["rcbv"].data[m["tumour"]]))
    assert got_dual == pytest.approx(truth, rel=0.05)
    assert abs(got_single / truth - 1) > 0.2
    assert dual.parameters["dual_echo"] is True and dual.parameters["te2_ms"] == 30.0


def test_dual_echo_needs_both_echoes() -> None:
    e1, e2, _ = _volumes()
    with pytest.raises(ValueError, match="echo2"):
        DSCModel(te_ms=5.0, te2_ms=30.0).fit(e1)
    with pytest.raises(ValueError, match="te2_ms"):
        DSCModel(te_ms=5.0).fit(e1, echo2=e2)


def test_a_correction_the_data_cannot_support_is_reported_not_guessed() -> None:
    from pseudoprog.errors import CannotAssessError

    e1, e2, m = _volumes()
    brain = np.ones(e1.spatial_shape, dtype=bool)
    short = Volume(e2.data[..., :24], e2.affine, e2.frame_times_s[:24])  # no residue tail after 12 s
    with pytest.raises(CannotAssessError, match="bjornerud"):
        DSCModel(te_ms=30.0, leakage="bjornerud").fit(short, aif_mask=m["aif"], reference_mask=m["ref"], brain=brain)
