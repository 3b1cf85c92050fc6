"""One midline per timepoint: found by the lesions stage on the T1c brain mask, used by every contralateral reference.

rADC, ASL rCBF and the DSC white-matter reference each mirror or split the brain across its mid-sagittal plane. The
plane is searched once per timepoint, on the session's best brain mask (the T1c's), and handed to the map builders
(``TimepointOutput.midline``): not searched again on each map's own mask (60-300 ms a search, three more per
timepoint), and every reference of a session uses the same midline.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.flow import assess
from pseudoprog.lesions import segment
from pseudoprog.phantoms.anatomy import Grid

pytestmark = pytest.mark.e2e


def _case(folder, sequences: tuple[str, ...]):
    """The pseudoprogression patient (two timepoints, the follow-up scanned at 2.5° of yaw) on a small grid."""
    from pseudoprog.phantoms.patient import write_synthetic_case

    grid = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))
    return write_synthetic_case(
        folder, scenario="pseudoprogression", fmt="nifti", seed=3, grid=grid, sequences=sequences
    )


def test_the_plane_is_searched_once_per_timepoint_and_every_reference_uses_it(tmp_path, monkeypatch) -> None:
    case = _case(tmp_path / "case", ("structural", "dsc", "asl", "dwi"))
    searched: list[tuple[int, ...]] = []
    real = segment._mid_sagittal_fit

    def counting(brain, affine):
        searched.append(tuple(brain.shape))
        return real(brain, affine)

    monkeypatch.setattr(segment, "_mid_sagittal_fit", counting)
    segment._FITS.clear()
    a = assess(case, tmp_path / "out")
    assert len(a.timepoints) == 2
    assert len(searched) == len(a.timepoints), f"plane searches: {searched}"
    references = [
        (m.name, str(m.quality.get("reference", "")))
        for tp in a.timepoints
        for m in tp.markers
        if m.name in ("radc_mean", "asl_rcbf_max")
    ]
    assert {name for name, _ in references} == {"radc_mean", "asl_rcbf_max"}
    assert all("mid-sagittal plane" in text for _, text in references), references


def test_a_midline_not_found_on_the_t1c_is_a_timepoint_warning(tmp_path, monkeypatch) -> None:
    from pseudoprog.lesions import analysis
    from pseudoprog.perfusion import reference_region

    case = _case(tmp_path / "case", ("structural", "dwi"))
    unfound = reference_region.Midline("axis", np.array([1.0, 0.0, 0.0]), 0.0, "a reason", "mirrored along the axis")
    monkeypatch.setattr(analysis, "find_midline", lambda brain, affine: unfound)
    a = assess(case, tmp_path / "out")
    for tp in a.timepoints:
        assert any("brain midline not found on the T1c brain mask (a reason)" in w for w in tp.warnings), tp.warnings
        radc = [m for m in tp.markers if m.name == "radc_mean"]
        assert radc and all(m.quality["reference_mirror"] == "axis" for m in radc)
