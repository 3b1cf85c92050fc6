"""Location against the radiation dose, and RTDOSE reading (phantom RTDOSE written with pydicom)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest

from pseudoprog.case import LocationVsRT
from pseudoprog.errors import InputError
from pseudoprog.ingest.rtdose import read_rtdose
from pseudoprog.lesions.radiation import classify_location, reference_dose_gy
from pseudoprog.phantoms.rtdose import dose_cloud, write_rtdose

from .helpers import ellipsoid_mask


def _dose(shift_mm: float = 0.0):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-60.0, -60.0, -40.0]
    shape = (61, 61, 41)
    return dose_cloud(affine, shape, (shift_mm, 0.0, 0.0), prescription_gy=60.0, radius_mm=25.0), affine


def _lesion():
    mask, affine = ellipsoid_mask((60, 60, 30), (1.0, 1.0, 2.0), (30.0, 30.0, 30.0), (8.0, 8.0, 8.0))
    affine[:3, 3] = [-30.0, -30.0, -30.0]  # lesion centred at world (0, 0, 0)
    return mask, affine


@pytest.mark.parametrize(
    ("shift", "expected"),
    [(0.0, LocationVsRT.IN_FIELD), (22.0, LocationVsRT.MARGINAL), (50.0, LocationVsRT.OUT_OF_FIELD)],
)
def test_lesion_inside_at_the_edge_and_outside_the_field(shift, expected):
    from pseudoprog.case import Volume

    dose, daff = _dose(shift)
    mask, affine = _lesion()
    loc = classify_location(mask, affine, Volume(dose, daff), reference_gy=60.0)
    assert loc.location is expected, loc.reason
    assert 0.0 <= loc.fraction_in_high <= loc.fraction_in_marginal <= 1.0


def test_a_transform_between_spaces_is_applied():
    from pseudoprog.case import Volume

    dose, daff = _dose(40.0)
    mask, affine = _lesion()
    shift = np.eye(4)
    shift[0, 3] = 40.0  # the dose world is the lesion world moved by 40 mm
    loc = classify_location(mask, affine, Volume(dose, daff), reference_gy=60.0, lesion_world_to_dose_world=shift)
    assert loc.location is LocationVsRT.IN_FIELD


def test_rtdose_round_trip(tmp_path):
    dose, daff = _dose()
    path = write_rtdose(
        tmp_path / "d.dcm", dose, daff, frame_of_reference_uid="1.2.3.4", patient_id="X", study_date=dt.date(2026, 1, 1)
    )
    grid = read_rtdose(tmp_path)  # a folder holding one RTDOSE
    assert grid.path == path and grid.frame_of_reference_uid == "1.2.3.4"
    assert np.allclose(grid.dose.affine, daff, atol=1e-4)
    assert np.allclose(grid.dose.data, dose, atol=float(dose.max()) / 60000)


def test_relative_dose_units_are_refused(tmp_path):
    dose, daff = _dose()
    path = write_rtdose(
        tmp_path / "d.dcm", dose, daff, frame_of_reference_uid="1.2.3", patient_id="X", study_date=dt.date(2026, 1, 1)
    )
    ds = pydicom.dcmread(str(path))
    ds.DoseUnits = "RELATIVE"
    ds.save_as(str(path))
    with pytest.raises(InputError, match="DoseUnits"):
        read_rtdose(path)


def test_reference_dose_for_a_plan_prescribed_to_an_isodose():
    assert reference_dose_gy(60.0, None) == 60.0
    assert reference_dose_gy(20.0, 80.0) == pytest.approx(25.0)
    with pytest.raises(ValueError):
        reference_dose_gy(0.0, None)


def test_empty_lesion_cannot_be_placed():
    from pseudoprog.case import Volume

    dose, daff = _dose()
    with pytest.raises(ValueError, match="empty"):
        classify_location(np.zeros((4, 4, 4), dtype=bool), np.eye(4), Volume(dose, daff), reference_gy=60.0)
