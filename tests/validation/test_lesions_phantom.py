"""Validation on phantoms with exactly known lesions.

Tolerances (issue 5): diameters within one voxel (1.5 mm in-plane) of the analytic truth; enhancing
volume within 2 % of the voxelised truth; the core (cavity/necrosis) within 10 % of the analytic
core; the whole pipeline on written files measures, tracks and keeps transforms.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import LocationVsRT, Volume
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import segment_lesions
from pseudoprog.phantoms.anatomy import Grid
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series

pytestmark = pytest.mark.validation

# A thin rim round a cavity, the largest lesion, and a metastasis with a necrotic core.
CASES = [("true_progression", 0), ("true_progression", 3), ("radiation_necrosis_after_srs", 2)]


@pytest.mark.parametrize(("scenario", "scan"), CASES)
def test_segmented_and_measured_lesion_matches_the_truth(scenario, scan):
    sc = SCENARIOS[scenario]
    tp = build_timepoint(sc, sc.scans[scan], seed=7)
    s = {x.name: x for x in structural_series(tp)}
    t1c = Volume(s["T1c"].data, s["T1c"].affine)
    brain, _ = brain_mask(t1c)
    # As the lesions stage does: the images as acquired (bias field and all), not N4-corrected (lesions/analysis.py).
    lesions, _ = segment_lesions(t1c.data, brain, t1c.affine, t1=s["T1"].data, flair=s["FLAIR"].data)
    assert len(lesions) == 1
    les = lesions[0]
    truth = sc.scans[scan].lesions[0]
    voxel_truth = tp.anatomy.lesion_masks["L1"].sum() * Grid().voxel_volume_mm3
    m, _ = measure_lesion(les.enhancing, t1c.affine, core=les.core, flair=les.flair)
    one_voxel = max(Grid().spacing_mm[:2])
    assert abs(m.long_mm - truth.long_mm) <= one_voxel
    assert abs(m.perp_mm - truth.perp_mm) <= one_voxel
    assert m.enhancing_volume_mm3 == pytest.approx(voxel_truth, rel=0.02)
    if truth.core_fraction > 0:
        assert m.core_volume_mm3 == pytest.approx(truth.core_volume_mm3, rel=0.10)
    assert m.flair_volume_mm3 is not None and m.flair_volume_mm3 > m.enhancing_volume_mm3


@pytest.fixture(scope="module")
def assessed(phantom_cases, tmp_path_factory):
    from pseudoprog.flow import FlowContext, decide_scope
    from pseudoprog.ingest import ingest_case
    from pseudoprog.lesions.stage import reported, run_lesions

    case_dir = phantom_cases("pseudoprogression", "nifti")
    case = ingest_case(case_dir).case
    ctx = FlowContext(case, tmp_path_factory.mktemp("out"), decide_scope(case))
    ctx.merge(reported(case))
    ctx.merge(run_lesions(case, ctx.lesions()))
    return ctx, json.loads((case_dir / "truth.json").read_text())


def test_pipeline_measures_every_timepoint_and_replaces_reported_values(assessed):
    ctx, truth = assessed
    for tp_truth in truth["timepoints"]:
        date = next(d for d in ctx.lesions() if d.isoformat() == tp_truth["date"])
        (lesion,) = ctx.lesions()[date]
        t = tp_truth["lesions"][0]
        assert lesion.id == "L1" and lesion.measurement.source == "lesions.rano_bidimensional"
        assert abs(lesion.measurement.long_mm - t["long_mm"]) <= 1.5
        assert abs(lesion.measurement.perp_mm - t["perp_mm"]) <= 1.5
        assert lesion.measurement.enhancing_volume_mm3 == pytest.approx(t["enhancing_volume_mm3_voxels"], rel=0.02)
        assert lesion.location_vs_rt is LocationVsRT.IN_FIELD  # from case.yaml (no RTDOSE)
        assert not lesion.new
        assert "oedema_ratio" in lesion.markers
        assert any("reported" in n and "measured" in n for n in ctx.at(date).warnings)
        (mask,) = ctx.masks()[date]
        assert mask.lesion_id == "L1" and mask.enhancing.sum() > 0


def test_pipeline_keeps_transforms_that_recover_the_pose(assessed):
    ctx, truth = assessed
    dates = sorted(d for d, tp in ctx.timepoints.items() if tp.transforms is not None)
    grid = Grid()
    from pseudoprog.phantoms.patient import _pose_affine

    base = _pose_affine(grid, tuple(truth["timepoints"][0]["pose"]))
    for d, tp_truth in zip(dates, truth["timepoints"], strict=True):
        reg = ctx.at(d).transforms.to_baseline
        expected = _pose_affine(grid, tuple(tp_truth["pose"])) @ np.linalg.inv(base)
        err = reg.fixed_to_moving @ np.linalg.inv(expected)
        corners = np.array([[x, y, z, 1.0] for x in (-70, 70) for y in (-90, 90) for z in (-60, 60)]).T
        assert np.abs((err @ corners - corners)[:3]).max() < 1.0
        assert set(ctx.at(d).transforms.series_to_t1c) == {"T1", "T2", "FLAIR"}


def test_rtdose_places_the_lesion_in_the_field(phantom_cases, tmp_path):
    import shutil

    from pseudoprog.ingest import ingest_case
    from pseudoprog.lesions.analysis import analyse_case
    from pseudoprog.phantoms.rtdose import add_rtdose_to_case

    case_dir = tmp_path / "case"
    shutil.copytree(phantom_cases("radiation_necrosis_after_srs", "nifti"), case_dir)
    add_rtdose_to_case(case_dir, radius_mm=18.0)
    result = analyse_case(ingest_case(case_dir).case, within_session="header", bias_correction=False)
    locations = {d: tl.locations["L1"].location for d, tl in result.timepoints.items()}
    # Every visit (the head moved between them) is placed in the field through its registration.
    assert len(locations) == 3 and set(locations.values()) == {LocationVsRT.IN_FIELD}
    assert result.dose_note and "25.0 Gy" in result.dose_note  # 20 Gy prescribed to the 80 % isodose
