"""Unit tests of perfusion/asl.py and perfusion/reference_region.py."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.errors import CannotAssessError, InputError
from pseudoprog.perfusion.asl import cbf_single_pld, compute_asl_cbf, read_asl_context, split_volumes
from pseudoprog.perfusion.reference_region import mirror_across_midline

T1B, ALPHA, LAM, TAU, PLD = 1.65, 0.85, 0.9, 1.8, 1.8


def _delta_m(cbf, m0):
    """Forward white-paper pCASL model."""
    return cbf * 2 * ALPHA * T1B * m0 * (1 - np.exp(-TAU / T1B)) * np.exp(-PLD / T1B) / (6000 * LAM)


def test_pcasl_formula_inverts_forward_model_and_known_value():
    m0 = np.array([1000.0, 1000.0])
    cbf = np.array([60.0, 20.0])
    got = cbf_single_pld(
        _delta_m(cbf, m0),
        m0,
        labelling="PCASL",
        pld_s=PLD,
        label_duration_s=TAU,
        t1_blood_s=T1B,
        efficiency=ALPHA,
        partition_coefficient=LAM,
    )
    np.testing.assert_allclose(got, cbf)
    # hand value: ΔM/M0 = 0.01 → 6000·0.9·0.01·e^(1.8/1.65) / (2·0.85·1.65·(1 − e^(−1.8/1.65))) = 160.76 / 1.8628 ≈ 86.3
    one = cbf_single_pld(
        np.array([10.0]),
        np.array([1000.0]),
        labelling="pcasl",
        pld_s=PLD,
        label_duration_s=TAU,
        t1_blood_s=T1B,
        efficiency=ALPHA,
        partition_coefficient=LAM,
    )
    assert one[0] == pytest.approx(86.3, abs=0.1)


def test_pasl_formula():
    m0, ti, ti1 = np.array([1000.0]), 1.8, 0.8
    dm = 50.0 * 2 * 0.98 * ti1 * m0 * np.exp(-ti / T1B) / (6000 * LAM)
    got = cbf_single_pld(
        dm,
        m0,
        labelling="PASL",
        pld_s=ti,
        bolus_cutoff_s=ti1,
        t1_blood_s=T1B,
        efficiency=0.98,
        partition_coefficient=LAM,
    )
    assert got[0] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="TI1"):
        cbf_single_pld(dm, m0, labelling="PASL", pld_s=ti, t1_blood_s=T1B, efficiency=0.98, partition_coefficient=LAM)
    with pytest.raises(ValueError, match="labelling"):
        cbf_single_pld(dm, m0, labelling="VSASL", pld_s=ti, t1_blood_s=T1B, efficiency=0.9, partition_coefficient=LAM)


def _series(order="control_first", pairs=4):
    rng = np.random.default_rng(2)
    m0 = np.full((8, 8, 2), 1000.0)
    m0[:2] = 1.0  # background
    cbf = np.full(m0.shape, 50.0)
    dm = _delta_m(cbf, m0)
    control = 0.9 * m0
    vols = []
    for _ in range(pairs):
        pair = [control, control - dm] if order == "control_first" else [control - dm, control]
        vols += [v + rng.normal(0, 0.05, v.shape) for v in pair]
    return np.stack(vols, axis=-1), m0


@pytest.mark.parametrize("order", ["control_first", "label_first"])
def test_compute_cbf_infers_pair_order(order):
    asl, m0 = _series(order)
    meta = {"ArterialSpinLabelingType": "PCASL", "PostLabelingDelay": PLD, "LabelingDuration": TAU}
    res = compute_asl_cbf(asl, m0=m0, metadata=meta, field_strength_t=3.0)
    assert np.nanmean(res.cbf_ml_100g_min[res.brain]) == pytest.approx(50.0, rel=0.02)
    assert ("even" in res.parameters["control_label"]) == (order == "control_first")
    assert np.all(np.isnan(res.cbf_ml_100g_min[:2]))


def test_asl_refuses_missing_m0_and_unknown_type(tmp_path):
    asl, m0 = _series()
    meta = {"ArterialSpinLabelingType": "PCASL", "PostLabelingDelay": PLD, "LabelingDuration": TAU}
    with pytest.raises(CannotAssessError, match="M0"):
        compute_asl_cbf(asl, m0=None, metadata=meta, field_strength_t=3.0)
    with pytest.raises(CannotAssessError, match="labelling type"):
        compute_asl_cbf(asl, m0=m0, metadata={}, field_strength_t=3.0)
    with pytest.raises(CannotAssessError, match="multi-PLD"):
        compute_asl_cbf(asl, m0=m0, metadata={**meta, "PostLabelingDelay": [1.0, 2.0]}, field_strength_t=3.0)
    with pytest.raises(InputError, match="M0 shape"):
        compute_asl_cbf(asl, m0=m0[:4], metadata=meta, field_strength_t=3.0)
    # defaults are used, and said so, when timing is not recorded
    res = compute_asl_cbf(asl, m0=m0, metadata={"ArterialSpinLabelingType": "PCASL"}, field_strength_t=3.0)
    assert any("PostLabelingDelay" in w for w in res.warnings)


def test_asl_context_file(tmp_path):
    img = tmp_path / "sub-01_asl.nii.gz"
    img.write_bytes(b"")
    (tmp_path / "sub-01_aslcontext.tsv").write_text("volume_type\nm0scan\ncontrol\nlabel\n")
    ctx = read_asl_context(img)
    assert ctx == ["m0scan", "control", "label"]
    data = np.stack([np.full((2, 2, 1), v) for v in (1000.0, 900.0, 890.0)], axis=-1)
    dm, m0, how = split_volumes(data, ctx)
    assert "aslcontext" in how
    assert dm[0, 0, 0] == pytest.approx(10.0) and m0 is not None and m0[0, 0, 0] == 1000.0
    (tmp_path / "sub-01_aslcontext.tsv").write_text("type\ncontrol\n")
    with pytest.raises(InputError, match="volume_type"):
        read_asl_context(img)


def test_mirror_region():
    brain = np.zeros((20, 10, 3), bool)
    brain[2:18] = True  # midline at i = 9.5
    les = np.zeros_like(brain)
    les[3:6, 4:6, 1] = True
    mir = mirror_across_midline(les, brain, np.eye(4))
    assert mir.sum() == les.sum()
    assert set(np.nonzero(mir)[0]) == {14, 15, 16}  # 2 × 9.5 − {3, 4, 5}
