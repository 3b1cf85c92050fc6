"""SVD deconvolution: flow recovery, delay (in)sensitivity, oSVD's per-voxel threshold, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion.dsc.deconvolution import convolution_matrix, deconvolve, oscillation_index

DT = 1.0
T = np.arange(80) * DT


def _aif(delay: float = 0.0) -> np.ndarray:
    x = np.clip(T - 10 - delay, 0, None)
    return 8 * (x / 3) ** 3 * np.exp(-x / 1.5) / 1.6


def _tissue(cbf: float, mtt: float, delay: float = 0.0) -> np.ndarray:
    residue = np.exp(-T / mtt)
    return DT * np.convolve(_aif(delay), cbf * residue)[: T.size]


@pytest.mark.parametrize("method", ["ssvd", "csvd", "osvd"])
def test_flow_is_recovered_without_delay(method: str) -> None:
    cbf = 0.01
    got = deconvolve(_tissue(cbf, 4.0)[None], _aif(), DT, method=method).flow[0]
    # Truncated SVD underestimates flow (Wu et al. 2003 report 10-30 % with exponential residues).
    assert got == pytest.approx(cbf, rel=0.3)
    assert got < cbf * 1.05


def test_circulant_svd_is_insensitive_to_a_tissue_arriving_early() -> None:
    # The AIF is measured late (a tissue that arrives 3 s before it): sSVD loses the residue peak.
    tissue = _tissue(0.01, 4.0)[None]
    late_aif = _aif(delay=3.0)
    c = deconvolve(tissue, late_aif, DT, method="csvd").flow[0]
    s = deconvolve(tissue, late_aif, DT, method="ssvd").flow[0]
    ref = deconvolve(tissue, _aif(), DT, method="csvd").flow[0]
    assert abs(c - ref) / ref < 0.05
    assert abs(s - ref) / ref > 2 * abs(c - ref) / ref


def test_osvd_regularises_noisy_curves_more() -> None:
    rng = np.random.default_rng(3)
    clean = _tissue(0.01, 4.0)
    noisy = clean + rng.normal(0, 0.02 * clean.max(), clean.size)
    d = deconvolve(np.vstack([clean, noisy]), _aif(), DT, method="osvd")
    assert d.threshold[1] >= d.threshold[0]
    assert np.all(oscillation_index(d.residue[:, : T.size]) <= 0.035 + 1e-6) or d.threshold[1] == 0.5


def test_circulant_matrix_is_circulant_and_lower_triangular_otherwise() -> None:
    a = convolution_matrix(np.arange(1.0, 5.0), 1.0, circulant=False)
    assert np.allclose(np.triu(a, 1), 0) and a[3, 0] == 4.0
    c = convolution_matrix(np.arange(1.0, 5.0), 1.0, circulant=True)
    assert c.shape == (8, 8) and np.allclose(c[1:, 1:], c[:-1, :-1])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        deconvolve(np.ones((1, 80)), _aif(), DT, method="fft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="match the AIF"):
        deconvolve(np.ones((1, 70)), _aif(), DT)
    bad = _aif()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        deconvolve(np.ones((1, 80)), bad, DT)
    with pytest.raises(ValueError, match="no positive"):
        deconvolve(np.ones((1, 80)), np.zeros(80), DT)
    with pytest.raises(ValueError, match="threshold"):
        deconvolve(np.ones((1, 80)), _aif(), DT, method="csvd", threshold=1.5)


def _osvd_one_voxel(c: np.ndarray, aif: np.ndarray, dt: float) -> tuple[np.ndarray, float]:
    """oSVD for one curve, written out plainly (the rule of Wu et al. 2003, one threshold after another)."""
    from pseudoprog.perfusion.tables import dsc_methods

    table = dsc_methods()["svd"]
    a = convolution_matrix(aif, dt, circulant=True)
    u, s, vt = np.linalg.svd(a)
    padded = np.zeros(a.shape[0])
    padded[: c.size] = c
    chosen = None
    for p in sorted(table["osvd_thresholds"], reverse=True):
        b = vt.T @ (np.where(s >= p * s[0], 1 / s, 0) * (u.T @ padded))
        ok = oscillation_index(b[None, : c.size])[0] <= table["osvd_oi_max"]
        if chosen is None or ok:
            chosen = (b, p)
        if not ok:
            break
    assert chosen is not None
    return chosen


def test_osvd_blocks_match_the_plain_rule_and_the_residue_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    from pseudoprog.perfusion.dsc import deconvolution as dec

    monkeypatch.setattr(dec, "_BLOCK", 7)  # many blocks, the last one partial
    rng = np.random.default_rng(5)
    clean = np.stack([_tissue(cbf, mtt) for cbf in (0.005, 0.01, 0.02) for mtt in (2.0, 4.0, 8.0)] * 5)
    curves = clean + rng.normal(0, 0.01, clean.shape) * rng.uniform(0, 3, (clean.shape[0], 1))
    full = deconvolve(curves, _aif(), DT, method="osvd")
    lean = deconvolve(curves, _aif(), DT, method="osvd", keep_residue=False)
    assert lean.residue is None and full.residue is not None
    assert np.array_equal(lean.flow, full.flow) and np.array_equal(lean.threshold, full.threshold)
    for i, c in enumerate(curves):
        b, p = _osvd_one_voxel(c, _aif(), DT)
        assert full.threshold[i] == p
        assert np.allclose(full.residue[i], b, atol=1e-9, rtol=1e-6)
        assert full.flow[i] == pytest.approx(b.max(), rel=1e-9)


def test_osvd_memory_stays_within_twice_its_input() -> None:
    import tracemalloc

    curves = np.tile(_tissue(0.01, 4.0).astype(np.float32), (40000, 1))
    deconvolve(curves[:10], _aif(), DT)  # compile first
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        deconvolve(curves, _aif(), DT, method="osvd", keep_residue=False)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak <= 2 * curves.nbytes
