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


# Attributes that identify one instance (new on every map) rather than describe it.
_IDENTITY = {
    "SOPInstanceUID", "MediaStorageSOPInstanceUID", "SeriesInstanceUID", "DimensionOrganizationUID",
    "InstanceCreationDate", "InstanceCreationTime", "ContentDate", "ContentTime", "ContributionDateTime",
    # the file meta group's byte length follows its UIDs' lengths: a random UID is 62 characters long ~1 % of the
    # time (64 else), so two files' groups differ by 2 bytes now and then (a CI run failed on it)
    "FileMetaInformationGroupLength",
}


def _differences(a, b, path=""):
    """Every attribute, at any depth, whose value differs between two datasets (identity attributes aside)."""
    out = []
    for tag in sorted(set(a.keys()) | set(b.keys())):
        name = path + (a.get(tag) or b.get(tag)).keyword
        if tag not in a or tag not in b:
            out.append(f"{name} only in one")
        elif a[tag].VR == "SQ":
            if len(a[tag].value) != len(b[tag].value):
                out.append(f"{name} has {len(a[tag].value)} vs {len(b[tag].value)} items")
            for i, (x, y) in enumerate(zip(a[tag].value, b[tag].value, strict=False)):
                out.extend(_differences(x, y, f"{name}[{i}]."))
        elif a[tag].keyword not in _IDENTITY and a[tag].value != b[tag].value:
            out.append(name)
    return out


def test_every_map_on_one_source_is_what_highdicom_builds_for_it(dicom_source, tmp_path):
    """Maps after the first on a source reuse its encoded per-frame groups: the file must not differ otherwise."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    from pseudoprog.report.dicom_pmap import highdicom_map

    _case, _tp, source = dicom_source
    write_parametric_map(_map(source, 3.0, 1.0), source.affine, source, tmp_path / "first.dcm", name="rcbv",
                         unit="ratio", software_version="test")
    data = _map(source, 0.2, 0.01)
    ours = pydicom.dcmread(write_parametric_map(data, source.affine, source, tmp_path / "ktrans.dcm", name="ktrans",
                                                unit="1/min", software_version="test", series_number=912).path)
    shared = ours.SharedFunctionalGroupsSequence[0]
    ours_mapping = shared.RealWorldValueMappingSequence[0]
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="Ktrans", lut_explanation=ours_mapping.LUTExplanation,
        unit=Code("/min", "UCUM", "per minute"), slope=1.0, intercept=0.0, quantity_definition=codes.DCM.Ktrans,
        value_range=(ours_mapping.DoubleFloatRealWorldValueFirstValueMapped,
                     ours_mapping.DoubleFloatRealWorldValueLastValueMapped),
    )
    voi = shared.FrameVOILUTSequence[0]
    window = hd.VOILUTTransformation(window_center=float(voi.WindowCenter), window_width=float(voi.WindowWidth),
                                     voi_lut_function="LINEAR_EXACT")
    theirs = highdicom_map(source.to_frames(data), source, mapping, window, software_version="test",
                           series_number=912, series_description="pseudoprog Ktrans", content_label="KTRANS",
                           content_description="Ktrans map (per minute)")
    theirs.save_as(tmp_path / "theirs.dcm", enforce_file_format=True)
    theirs = pydicom.dcmread(tmp_path / "theirs.dcm")
    assert _differences(ours, theirs) == []
    assert _differences(ours.file_meta, theirs.file_meta) == []
    assert np.array_equal(ours.pixel_array, theirs.pixel_array)
    assert ours.SOPInstanceUID != theirs.SOPInstanceUID
    assert ours.SOPInstanceUID == ours.file_meta.MediaStorageSOPInstanceUID
    assert dciodvfy_errors(tmp_path / "ktrans.dcm") == []


def test_frames_follow_their_positions_when_the_source_lists_its_slices_the_other_way(dicom_source, tmp_path):
    from pseudoprog.report.dicom_source import SourceStack

    _case, _tp, source = dicom_source
    flip = np.eye(4)
    flip[2, 2], flip[2, 3] = -1.0, source.shape[2] - 1
    reversed_source = SourceStack(series=source.series, datasets=source.datasets[::-1],
                                  affine=source.affine @ flip, shape=source.shape)
    data = np.zeros(source.shape, np.float32)
    data[..., :] = np.arange(source.shape[2], dtype=np.float32) + 1.0  # each slice its own value
    written = write_parametric_map(data, reversed_source.affine, reversed_source, tmp_path / "pm.dcm", name="rcbv",
                                   unit="ratio", software_version="test")
    ds = pydicom.dcmread(written.path)
    slice_of = {tuple(np.round(np.asarray(d.ImagePositionPatient, float), 3)): k
                for k, d in enumerate(reversed_source.datasets)}
    for n, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        k = slice_of[tuple(np.round(np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, float), 3))]
        assert np.all(ds.pixel_array[n] == k + 1.0)
