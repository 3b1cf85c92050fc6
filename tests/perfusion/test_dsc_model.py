"""The whole DSC model on one physically modelled phantom scan (known tissues, CBV, leakage)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError, InputError
from pseudoprog.perfusion.dsc.model import DSCModel
from pseudoprog.phantoms.anatomy import Tissue
from pseudoprog.phantoms.dsc import TISSUES, to_dsc_grid


@pytest.fixture(scope="module")
def scan(dsc_scan):
    tp, s = dsc_scan.tp, dsc_scan.series
    vol = Volume(s.data, s.affine, s.frame_times_s)
    frac = {t: to_dsc_grid(tp, tp.labels == int(t)) for t in Tissue}
    lesion = to_dsc_grid(tp, tp.anatomy.lesion_masks["L1"]) >= 0.5
    return vol, frac, lesion, tp


@pytest.fixture(scope="module")
def fits(scan):
    vol, _, lesion, _ = scan
    return {m: DSCModel(te_ms=30.0, leakage=m).fit(vol, lesion_mask=lesion) for m in ("bsw", "bjornerud")}


def test_aif_and_reference_land_on_the_right_tissues(scan, fits) -> None:
    _, frac, _, _ = scan
    fit = fits["bsw"]
    assert frac[Tissue.ARTERY][fit.aif_mask].mean() > 0.5
    assert frac[Tissue.WHITE_MATTER][fit.reference.mask].mean() > 0.9
    assert fit.reference.method == "auto-contralateral-nawm"
    assert fit.parameters["leakage_correction"] == "bsw"


def test_normal_tissue_rcbv_matches_truth(scan, fits) -> None:
    _, frac, _, _ = scan
    truth_gm = TISSUES[Tissue.GREY_MATTER]["cbv"] / TISSUES[Tissue.WHITE_MATTER]["cbv"]
    for fit in fits.values():
        gm = frac[Tissue.GREY_MATTER] > 0.99
        wm = frac[Tissue.WHITE_MATTER] > 0.99
        assert np.nanmedian(fit.maps["rcbv"].data[gm]) == pytest.approx(truth_gm, rel=0.10)
        assert np.nanmedian(fit.maps["rcbv"].data[wm]) == pytest.approx(1.0, abs=0.05)
        # MTT: SVD underestimates CBF, so MTT is long; grey matter is still faster than white matter.
        assert np.nanmedian(fit.maps["mtt"].data[gm]) < np.nanmedian(fit.maps["mtt"].data[wm])


def test_leakage_correction_raises_t1_leaky_tumour_rcbv_towards_truth(scan, fits) -> None:
    _, frac, _, _ = scan
    truth = TISSUES[Tissue.TUMOUR_ENHANCING]["cbv"] / TISSUES[Tissue.WHITE_MATTER]["cbv"]
    pure = frac[Tissue.TUMOUR_ENHANCING] > 0.95
    assert pure.sum() >= 20
    unc = np.nanmedian(fits["bsw"].maps["rcbv_uncorrected"].data[pure])
    for fit in fits.values():
        cor = np.nanmedian(fit.maps["rcbv"].data[pure])
        assert abs(cor - truth) < 0.5 * abs(unc - truth)
        assert np.nanmedian(fit.maps["k2"].data[pure]) > 0  # T1-dominant at 60° without preload


def test_lesion_summary(scan, fits) -> None:
    _, _, lesion, _tp = scan
    s = fits["bjornerud"].summarise(lesion)
    assert s.n_voxels == int(lesion.sum())
    assert s.rcbv_p90 > s.rcbv_mean > s.rcbv_uncorrected_mean
    assert 0 <= s.ftb_low <= 1 and s.ftb_high + s.ftb_low <= 1 + 1e-9
    assert s.ftb_above_1 >= s.ftb_high
    assert s.psr is not None and 0.3 < s.psr < 1.5
    assert s.volume_mm3 == pytest.approx(s.n_voxels * fits["bjornerud"].voxel_volume_mm3)
    with pytest.raises(CannotAssessError, match="too small"):
        fits["bsw"].summarise(np.zeros_like(lesion))


def test_ftb_classes_follow_thresholds(fits) -> None:
    fit = fits["bsw"]
    rcbv, ftb = fit.maps["rcbv"].data, fit.maps["ftb"].data
    brain = fit.brain
    assert np.all(ftb[~brain] == 0)
    assert np.all(ftb[brain & (rcbv > 1.75)] == 3)
    assert np.all(ftb[brain & (rcbv < 1.0)] == 1)


def test_user_masks_are_used_and_checked(scan) -> None:
    vol, frac, _, _ = scan
    aif = frac[Tissue.ARTERY] > 0.8
    ref = frac[Tissue.WHITE_MATTER] > 0.99
    fit = DSCModel(te_ms=30.0, leakage="none", deconvolution="csvd").fit(vol, aif_mask=aif, reference_mask=ref)
    assert fit.aif.method == "mask" and fit.reference.method == "mask"
    assert np.array_equal(fit.aif_mask, aif & fit.brain)
    with pytest.raises(InputError, match="AIF mask has shape"):
        DSCModel(te_ms=30.0).fit(vol, aif_mask=np.ones((3, 3, 3), bool))


def test_bad_series_are_refused(scan) -> None:
    vol, *_ = scan
    nan = Volume(np.full((20, 20, 4, 40), np.nan, np.float32), vol.affine, np.arange(40) * 1.5)
    with pytest.raises(CannotAssessError, match="NaN"):
        DSCModel(te_ms=30.0).fit(nan)
    short = Volume(vol.data[..., :10], vol.affine, vol.frame_times_s[:10])
    with pytest.raises(CannotAssessError, match="frames"):
        DSCModel(te_ms=30.0).fit(short)
    static = Volume(vol.data[..., 0], vol.affine)
    with pytest.raises(InputError, match="4D"):
        DSCModel(te_ms=30.0).fit(static)
    flat = Volume(np.ones((20, 20, 4, 40), np.float32) * 100, vol.affine, np.arange(40) * 1.5)
    with pytest.raises(CannotAssessError, match="bolus"):
        DSCModel(te_ms=30.0).fit(flat)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"te_ms": -1.0}, "te_ms"),
        ({"te_ms": 30.0, "leakage": "magic"}, "leakage"),
        ({"te_ms": 30.0, "deconvolution": "fft"}, "deconvolution"),
        ({"te_ms": 30.0, "te2_ms": 20.0}, "te2_ms"),
        ({"te_ms": 30.0, "svd_threshold": 2.0}, "svd_threshold"),
    ],
)
def test_options_are_validated(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        DSCModel(**kw)


@pytest.mark.parametrize("half", [(6, 6, 2), (5, 3, 1), (0, 2, 0)])
def test_the_reference_margin_box_is_binary_dilation_by_the_box(half):
    # The lesion margin kept out of the white-matter reference: a maximum filter, the same voxels as the 3-D
    # structure it replaced, at the image border too.
    from scipy import ndimage

    from pseudoprog.perfusion.dsc.reference import dilated_by_box

    rng = np.random.default_rng(sum(half))
    mask = np.zeros((40, 36, 12), dtype=bool)
    mask[2:14, 20:36, 0:5] = rng.random((12, 16, 5)) > 0.6  # touches three borders
    mask[25, 10, 6] = True
    box = np.ones(tuple(2 * h + 1 for h in half), dtype=bool)
    assert np.array_equal(dilated_by_box(mask, half), ndimage.binary_dilation(mask, structure=box))


def test_lesion_skewness_and_kurtosis_are_scipys_to_the_bit() -> None:
    """The summary's rCBV skewness and excess kurtosis repeat scipy.stats' operations (biased estimators) without
    importing scipy.stats (0.2 s of every run): the same numbers, NaN when the values do not vary."""
    from scipy import stats

    from pseudoprog.perfusion.dsc.model import _excess_kurtosis, _skewness

    rng = np.random.default_rng(7)
    for n in (3, 4, 17, 250, 4001):
        for v in (rng.normal(1.2, 0.4, n), rng.gamma(2.0, 0.5, n), rng.random(n).astype(np.float32).astype(float)):
            assert _skewness(v) == float(stats.skew(v))
            assert _excess_kurtosis(v) == float(stats.kurtosis(v))
    flat = np.full(12, 0.8)
    assert np.isnan(_skewness(flat)) and np.isnan(_excess_kurtosis(flat))
