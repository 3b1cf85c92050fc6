"""DCE from files: a 4D multi-flip-angle VFA NIfTI beside a dynamic NIfTI, an AIF mask on another grid, the CLI."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from pseudoprog.case import SeriesKind
from pseudoprog.cli import app
from pseudoprog.errors import InputError
from pseudoprog.perfusion import dce
from pseudoprog.perfusion.dce.t1mapping import spgr_signal
from pseudoprog.perfusion.from_series import dce_from_series, series_for_input

HCT, R1, TR, FA = 0.42, 4.5, 0.005, 15.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("dce-files")
    rng = np.random.default_rng(4)
    shape = (10, 10, 2)
    t = np.arange(0, 300, 5.0)
    cp = dce.parker_plasma_input(t, arrival_s=30.0, haematocrit=HCT)
    kt = np.where(np.arange(10)[:, None, None] < 5, 0.2, 0.05) * np.ones(shape)
    conc = dce.model_curves(
        "extended_tofts", t, cp, ktrans=kt.ravel(), ve=np.full(kt.size, 0.25), vp=np.full(kt.size, 0.03)
    ).reshape(*shape, t.size)
    t1 = np.full(shape, 1.2)
    conc[9, 9, :] = cp * (1 - HCT)  # one artery voxel
    t1[9, 9] = 1.65
    aff = np.diag([2.0, 2.0, 5.0, 1.0])
    dyn = spgr_signal(3000.0, 1 / t1[..., None] + R1 * conc, FA, TR) + rng.normal(0, 0.3, (*shape, t.size))
    nib.save(nib.Nifti1Image(dyn.astype(np.float32), aff), str(out / "dce.nii.gz"))
    (out / "dce.json").write_text(
        json.dumps(
            {
                "RepetitionTime": TR,
                "EchoTime": 0.002,
                "FlipAngle": FA,
                "FrameTimesStart": t.tolist(),
                "MagneticFieldStrength": 3.0,
            }
        )
    )
    fas = [2.0, 8.0, 15.0]
    vfa = np.stack([spgr_signal(3000.0, 1 / t1, a, TR) for a in fas], axis=-1) + rng.normal(0, 0.3, (*shape, 3))
    nib.save(nib.Nifti1Image(vfa.astype(np.float32), aff), str(out / "vfa.nii.gz"))
    (out / "vfa.json").write_text(json.dumps({"RepetitionTime": TR, "EchoTime": 0.002, "FlipAngle": fas}))
    # AIF mask drawn on a grid twice as fine (same world space)
    fine = np.zeros((20, 20, 4), np.uint8)
    fine[18:20, 18:20, 2:4] = 1
    fine_aff = np.diag([1.0, 1.0, 2.5, 1.0])
    fine_aff[:3, 3] = [-0.5, -0.5, -1.25]  # two fine voxels per coarse voxel, centred on it
    nib.save(nib.Nifti1Image(fine, fine_aff), str(out / "aif_mask.nii.gz"))
    return out, kt


def test_dce_with_4d_vfa_and_automatic_aif(folder):
    path, kt = folder
    series, others = series_for_input(path / "dce.nii.gz", SeriesKind.DCE, SeriesKind.VFA_T1)
    assert len(others[SeriesKind.VFA_T1]) == 1
    ms = dce_from_series(series, others[SeriesKind.VFA_T1], aif="auto")
    assert ms.parameters["vfa_flip_angles_deg"] == [2.0, 8.0, 15.0]
    assert np.nanmedian(ms.maps["t10"][:9, :9]) == pytest.approx(1.2, rel=0.02)
    tissue = np.ones(kt.shape, bool)
    tissue[9, 9] = False
    np.testing.assert_allclose(np.nanmedian(ms.maps["ktrans"][:5][tissue[:5]]), 0.2, rtol=0.1)
    np.testing.assert_allclose(np.nanmedian(ms.maps["ktrans"][5:][tissue[5:]]), 0.05, rtol=0.1, atol=0.005)


def test_cli_dce_with_aif_mask_on_another_grid(folder, tmp_path):
    path, _ = folder
    res = CliRunner().invoke(
        app,
        ["maps", "dce", str(path / "dce.nii.gz"), "--out", str(tmp_path), "--aif-mask", str(path / "aif_mask.nii.gz")],
    )
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "dce_parameters.json").read_text())
    assert params["aif_source"] == "mask" and params["aif_voxels"] >= 1
    kt = np.asarray(nib.load(str(tmp_path / "dce_ktrans.nii.gz")).dataobj)
    assert np.nanmedian(kt[:5, :9]) == pytest.approx(0.2, rel=0.1)


def test_missing_flip_angle_is_named(folder, tmp_path):
    path, _ = folder
    (tmp_path / "dce.nii.gz").write_bytes((path / "dce.nii.gz").read_bytes())
    meta = json.loads((path / "dce.json").read_text())
    meta.pop("FlipAngle")
    (tmp_path / "dce.json").write_text(json.dumps(meta))
    series, _ = series_for_input(tmp_path / "dce.nii.gz", SeriesKind.DCE)
    with pytest.raises(InputError, match="FlipAngle"):
        dce_from_series(series, (), t10_s=1.2)


def test_stated_contrast_agent_and_field_decide_the_relaxivity(folder):
    """The sidecar names no agent: r1 is an assumption unless case.yaml or --contrast-agent states the agent."""
    path, _ = folder
    series, others = series_for_input(path / "dce.nii.gz", SeriesKind.DCE, SeriesKind.VFA_T1)
    assumed = dce_from_series(series, others[SeriesKind.VFA_T1])
    assert assumed.parameters["relaxivity_per_mM_s"] == 4.5
    assert "agent not recorded" in assumed.parameters["relaxivity_source"]
    stated = dce_from_series(series, others[SeriesKind.VFA_T1], contrast_agent="Dotarem", field_strength_t=1.5)
    assert stated.parameters["relaxivity_per_mM_s"] == 3.6  # gadoterate in plasma at 1.5 T (Rohrer 2005)
    assert stated.parameters["relaxivity_source"].startswith("gadoterate at 1.5 T")
    assert any("field strength: 1.5 T as stated" in w for w in stated.warnings)  # the sidecar says 3 T


def test_cli_contrast_agent_option(folder, tmp_path):
    path, _ = folder
    res = CliRunner().invoke(
        app, ["maps", "dce", str(path / "dce.nii.gz"), "--out", str(tmp_path), "--contrast-agent", "Gadovist"]
    )
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "dce_parameters.json").read_text())
    assert params["relaxivity_per_mM_s"] == 5.0 and params["relaxivity_source"].startswith("gadobutrol at 3.0 T")


def test_assess_passes_the_sessions_stated_agent_to_the_dce_maps(folder, tmp_path, monkeypatch):
    """The maps stage hands case.yaml's contrast_agent and field_strength_t to the DCE engine."""
    import datetime as dt

    from pseudoprog.case import Timepoint
    from pseudoprog.handoff import TimepointInputs
    from pseudoprog.maps import dce as dce_maps
    from pseudoprog.perfusion import from_series

    path, _ = folder
    series, others = series_for_input(path / "dce.nii.gz", SeriesKind.DCE, SeriesKind.VFA_T1)
    seen: dict = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise InputError("stop here", field="spy")

    monkeypatch.setattr(from_series, "dce_from_series", spy)
    tp = Timepoint(
        date=dt.date(2026, 3, 1),
        series=(series, *others[SeriesKind.VFA_T1]),
        contrast_agent="MultiHance",
        field_strength_t=1.5,
    )
    with pytest.raises(InputError, match="stop here"):
        dce_maps.build(TimepointInputs(timepoint=tp, out_dir=tmp_path))
    assert (seen["contrast_agent"], seen["field_strength_t"]) == ("MultiHance", 1.5)
