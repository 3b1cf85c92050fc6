"""Synthetic patients: deterministic, anatomically sensible, with truth that matches the images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pseudoprog.case import SeriesKind
from pseudoprog.ingest import load_case, load_series
from pseudoprog.phantoms.anatomy import Grid, LesionShape, Tissue, healthy_brain, place_lesions
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, write_synthetic_case


def test_same_seed_gives_identical_images_and_another_seed_does_not():
    sc = SCENARIOS["pseudoprogression"]
    a = build_timepoint(sc, sc.scans[1], seed=3)
    b = build_timepoint(sc, sc.scans[1], seed=3)
    c = build_timepoint(sc, sc.scans[1], seed=4)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


def test_healthy_brain_has_plausible_tissue_fractions():
    grid = Grid()
    labels = healthy_brain(grid, seed=1)
    brain = np.isin(labels, [Tissue.CSF, Tissue.GREY_MATTER, Tissue.WHITE_MATTER, Tissue.ARTERY])
    volume_ml = brain.sum() * grid.voxel_volume_mm3 / 1000
    assert 1000 < volume_ml < 1800  # adult intracranial volume
    gm, wm = (labels == Tissue.GREY_MATTER).sum(), (labels == Tissue.WHITE_MATTER).sum()
    assert 0.4 < gm / (gm + wm) < 0.7
    assert (labels == Tissue.ARTERY).sum() * grid.voxel_volume_mm3 > 200  # enough arterial voxels for an AIF


def test_lesion_mask_volume_converges_to_the_analytic_volume():
    grid = Grid(shape=(96, 96, 64), spacing_mm=(1.0, 1.0, 1.0))
    shape = LesionShape("L1", (20.0, 10.0, 5.0), (12.0, 9.0, 8.0), core_fraction=0.5)
    anatomy = place_lesions(grid, healthy_brain(grid, seed=2), (shape,))
    voxels = anatomy.lesion_masks["L1"].sum() * grid.voxel_volume_mm3
    assert voxels == pytest.approx(shape.enhancing_volume_mm3, rel=0.04)
    assert shape.long_mm == 24 and shape.perp_mm == 18


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_writes_a_valid_case(tmp_path, scenario):
    folder = write_synthetic_case(tmp_path / scenario, scenario=scenario, fmt="nifti", seed=5)
    case = load_case(folder)
    truth = json.loads((folder / "truth.json").read_text())
    assert truth["scenario"] == scenario
    assert len(case.timepoints) == len(truth["timepoints"]) >= 2
    for tp, tt in zip(case.timepoints, truth["timepoints"], strict=True):
        kinds = {s.kind for s in tp.series}
        assert {SeriesKind.T1, SeriesKind.T1C, SeriesKind.T2, SeriesKind.FLAIR} <= kinds
        # The radiologist-style report rounds the exact truth to whole millimetres.
        assert tp.lesions[0].measurement.long_mm == round(tt["lesions"][0]["long_mm"])


def test_enhancing_rim_is_bright_on_t1c_and_not_on_t1(tmp_path):
    folder = write_synthetic_case(tmp_path / "c", scenario="true_progression", fmt="nifti", seed=5)
    case = load_case(folder)
    tp = case.timepoints[-1]
    t1c, _ = load_series(tp.series_of(SeriesKind.T1C)[0])
    t1, _ = load_series(tp.series_of(SeriesKind.T1)[0])
    sc = SCENARIOS["true_progression"]
    rim = build_timepoint(sc, sc.scans[2], seed=5).anatomy.lesion_masks["L1"]
    white = build_timepoint(sc, sc.scans[2], seed=5).labels == Tissue.WHITE_MATTER
    assert t1c.data[rim].mean() > 1.25 * t1c.data[white].mean()
    assert t1.data[rim].mean() < t1.data[white].mean()


def test_follow_up_scan_is_written_only_when_asked(tmp_path):
    without = write_synthetic_case(tmp_path / "a", scenario="pseudoprogression", seed=1)
    with_fu = write_synthetic_case(tmp_path / "b", scenario="pseudoprogression", seed=1, include_follow_up=True)
    assert len(load_case(with_fu).timepoints) == len(load_case(without).timepoints) + 1


def test_dicom_and_nifti_forms_hold_the_same_image(tmp_path):
    nifti = write_synthetic_case(tmp_path / "n", scenario="pseudoprogression", fmt="nifti", seed=2)
    dicom = write_synthetic_case(tmp_path / "d", scenario="pseudoprogression", fmt="dicom", seed=2)
    tp_n, tp_d = load_case(nifti).timepoints[1], load_case(dicom).timepoints[1]
    a, _ = load_series(tp_n.series_of(SeriesKind.FLAIR)[0])
    b, _ = load_series(tp_d.series_of(SeriesKind.FLAIR)[0])
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-4)
    np.testing.assert_allclose(b.data, a.data, atol=float(a.data.max()) / 65000 + 1e-3)
    # The head moved between visits: the second scan's affine is not the first's.
    first, _ = load_series(load_case(dicom).timepoints[0].series_of(SeriesKind.FLAIR)[0])
    assert not np.allclose(first.affine, b.affine)


def test_refuses_to_overwrite_a_folder_that_is_not_a_phantom(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "data.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        write_synthetic_case(tmp_path / "precious", scenario="stable")
    assert (tmp_path / "precious" / "data.txt").exists()
