"""DICOM Parametric Map: real values in float pixels, UCUM units and quantity codes, independent checks."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from pseudoprog.report.dicom_pmap import write_parametric_map

from .conftest import dciodvfy_errors, dcmdump_ok


def _map(source, value_in, value_out):
    data = np.full(source.shape, value_out, np.float32)
    data[10:20, 10:20, 5:8] = value_in
    return data


@pytest.mark.parametrize(
    ("name", "unit", "ucum", "quantity", "inside", "outside"),
    [("rcbv", "ratio", "1", "126398", 3.2, 1.0), ("adc", "mm2/s", "mm2/s", "113041", 1.6e-3, 0.8e-3)],
)
def test_map_reads_back_with_its_values_unit_and_quantity(
    dicom_source, tmp_path, name, unit, ucum, quantity, inside, outside
):
    _case, _tp, source = dicom_source
    data = _map(source, inside, outside)
    data[0, 0, 0] = np.nan  # not computed
    written = write_parametric_map(data, source.affine, source, tmp_path / "pm.dcm", name=name, unit=unit,
                                   software_version="test")
    assert not written.resampled
    ds = pydicom.dcmread(written.path)
    assert ds.StudyInstanceUID == source.datasets[0].StudyInstanceUID
    frames = ds.pixel_array
    expected = source.to_frames(np.nan_to_num(data, nan=0.0))
    assert frames.dtype == np.float32 and frames.shape == expected.shape
    # Frames may be stored in any order: each is matched to its source slice by its plane position.
    slice_of = {tuple(np.round(np.asarray(d.ImagePositionPatient, float), 3)): k for k, d in enumerate(source.datasets)}
    for n, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        k = slice_of[tuple(np.round(np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, float), 3))]
        assert np.array_equal(frames[n], expected[k])
    mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == ucum
    assert mapping.QuantityDefinitionSequence[0].ConceptCodeSequence[0].CodeValue == quantity
    assert (mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept) == (1.0, 0.0)


@pytest.mark.parametrize(("name", "unit", "value"), [("rcbv", "ratio", 2.0), ("adc", "mm2/s", 1.1e-3)])
def test_map_passes_dcmdump_and_dciodvfy(dicom_source, tmp_path, name, unit, value):
    _case, _tp, source = dicom_source
    written = write_parametric_map(_map(source, value, value / 2), source.affine, source, tmp_path / "pm.dcm",
                                   name=name, unit=unit, software_version="test")
    assert "ParametricMapStorage" in dcmdump_ok(written.path)
    assert dciodvfy_errors(written.path) == []  # an ADC window below 1 is allowed (LINEAR_EXACT)


def test_a_map_on_another_grid_is_resampled_onto_the_source(dicom_source, tmp_path):
    _case, _tp, source = dicom_source
    coarse = source.affine.copy()
    coarse[:3, :3] *= 2.0
    data = np.full((32, 36, 12), 2.0, np.float32)
    written = write_parametric_map(data, coarse, source, tmp_path / "pm.dcm", name="cbf", unit="ml/100g/min",
                                   software_version="test")
    assert written.resampled
    assert written.value_range[1] == pytest.approx(2.0)


def test_unknown_names_units_and_empty_maps_are_refused(dicom_source, tmp_path):
    _case, _tp, source = dicom_source
    data = np.ones(source.shape, np.float32)
    with pytest.raises(ValueError, match="no DICOM quantity"):
        write_parametric_map(data, source.affine, source, tmp_path / "a.dcm", name="nonsense", unit="ratio",
                             software_version="t")
    with pytest.raises(ValueError, match="UCUM"):
        write_parametric_map(data, source.affine, source, tmp_path / "a.dcm", name="rcbv", unit="furlongs",
                             software_version="t")
    with pytest.raises(ValueError, match="no finite value"):
        write_parametric_map(data * np.nan, source.affine, source, tmp_path / "a.dcm", name="rcbv", unit="ratio",
                             software_version="t")
    assert not (tmp_path / "a.dcm").exists()
