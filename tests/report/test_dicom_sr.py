"""TID 1500 SR: lesion measurements with time point and segment reference, the response call and probability."""

from __future__ import annotations

import subprocess

import highdicom as hd
import numpy as np
import pytest
from pydicom.sr.codedict import codes

from pseudoprog.assessment import ProbabilityEstimate, ResponseCall
from pseudoprog.case import Lesion, LesionMeasurement, Marker
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.report.dicom_seg import lesion_tracking_uid, write_lesion_seg
from pseudoprog.report.dicom_sr import write_measurement_sr

from .conftest import dciodvfy_errors, dcmdump_ok, need_binary, truth_masks

LESION = Lesion("L1", measurement=LesionMeasurement(long_mm=40.0, perp_mm=32.0, enhancing_volume_mm3=9000.0))


def _write(dicom_source, tmp_path, **kw):
    case, tp, source = dicom_source
    seg = write_lesion_seg(truth_masks("pseudoprogression", tp.date), source, tmp_path / "seg.dcm",
                           case_id=case.id, software_version="test")
    args = dict(case_id=case.id, date=tp.date, time_point_order=2, lesions=[LESION],
                markers=[Marker("rcbv_max", 1.3, "ratio", "perfusion.dsc")], software_version="test", seg=seg)
    args.update(kw)
    return case, tp, seg, write_measurement_sr(source, tmp_path / "sr.dcm", **args)


def test_sr_holds_lesion_measurements_time_point_and_segment(dicom_source, tmp_path):
    case, _tp, seg, written = _write(
        dicom_source, tmp_path,
        response=ResponseCall("RANO", "PD (unconfirmed)"),
        probability=ProbabilityEstimate(0.3, (0.15, 0.5), "treatment effect favoured"),
    )
    report = hd.sr.MeasurementReport.from_sequence([hd.sr.srread(written.path)])
    (group,) = report.get_volumetric_roi_measurement_groups()
    assert group.tracking_uid == lesion_tracking_uid(case.id, "L1")
    assert group.referenced_segment.referenced_sop_instance_uid == seg.sop_instance_uid
    assert group.referenced_segment.referenced_segment_numbers == [1]
    values = {(m.name.meaning, m.unit.value): m.value for m in group.get_measurements()}
    assert values[("Long axis", "mm")] == pytest.approx(40.0)
    assert values[("Short axis", "mm")] == pytest.approx(32.0)
    assert values[("Product of perpendicular diameters", "mm2")] == pytest.approx(1280.0)
    assert values[("Volume", "mm3")] == pytest.approx(9000.0)
    assert values[("Relative Regional Blood Volume", "1")] == pytest.approx(1.3)
    (overall,) = report.get_image_measurement_groups()
    evaluations = {e.name.meaning: e.value.meaning for e in overall.get_qualitative_evaluations()}
    assert evaluations[codes.DCM.CurrentResponse.meaning] == "PD (unconfirmed) (RANO)"
    probs = {m.name.meaning: m.value for m in overall.get_measurements()}
    assert probs["Probability of true progression"] == pytest.approx(30.0)
    assert probs["Probability of true progression, interval upper bound"] == pytest.approx(50.0)


def test_sr_without_seg_and_with_an_unknown_unit_says_what_it_left_out(dicom_source, tmp_path):
    _case, _tp, _seg, written = _write(
        dicom_source, tmp_path, seg=None, markers=[Marker("odd_marker", 2.0, "furlongs", "reported")]
    )
    report = hd.sr.MeasurementReport.from_sequence([hd.sr.srread(written.path)])
    assert report.get_volumetric_roi_measurement_groups() == []
    assert len(report.get_image_measurement_groups()) == 1
    assert written.skipped == ("L1 odd_marker: unit 'furlongs' has no UCUM code",)


def test_sr_passes_dcmdump_dsr2xml_and_dciodvfy(dicom_source, tmp_path):
    _case, tp, _seg, written = _write(dicom_source, tmp_path, response=ResponseCall("RANO", "SD"))
    assert "Comprehensive3DSRStorage" in dcmdump_ok(written.path)
    xml = _dsr2xml(written.path)
    assert tp.date.isoformat() in xml and "Imaging Measurement Report" in xml and "Current Response" in xml
    assert dciodvfy_errors(written.path) == []


def test_sr_diameters_carry_their_lines_on_the_measured_slice(dicom_source, tmp_path):
    # A PACS viewer draws a TID 300 measurement's "inferred from" POLYLINE on the image it references: the two
    # points must be the diameter's ends, on the source slice the product was measured on.
    _case, tp, source = dicom_source
    (mask,) = truth_masks("pseudoprogression", tp.date)
    measurement, _bd = measure_lesion(mask.enhancing, mask.affine, core=mask.core)
    assert source.same_grid(mask.affine, mask.enhancing.shape)
    _c, _t, _seg, written = _write(dicom_source, tmp_path, lesions=[Lesion("L1", measurement=measurement)])
    report = hd.sr.MeasurementReport.from_sequence([hd.sr.srread(written.path)])
    (volumetric,) = report.get_volumetric_roi_measurement_groups()
    assert {m.name.meaning for m in volumetric.get_measurements()} >= {"Volume", "Relative Regional Blood Volume"}
    (lines,) = [g for g in report.get_image_measurement_groups() if g.tracking_uid == volumetric.tracking_uid]
    by_name = {m.name.meaning: m for m in lines.get_measurements()}
    assert {"Long axis", "Short axis"} <= set(by_name) and "Volume" not in by_name
    for name, length in (("Long axis", measurement.long_mm), ("Short axis", measurement.perp_mm)):
        assert by_name[name].value == pytest.approx(length)
        (coords,) = by_name[name].referenced_coordinates
        assert coords.value_type.value == "SCOORD" and coords.graphic_type.value == "POLYLINE"
        (image,) = coords.ContentSequence[0].ReferencedSOPSequence
        assert image.ReferencedSOPInstanceUID == source.datasets[measurement.slice_index].SOPInstanceUID
        columns_rows = np.asarray(coords.value, dtype=float)
        ijk = np.c_[columns_rows - 0.5, [measurement.slice_index] * 2, [1.0, 1.0]]
        ends_mm = (source.affine @ ijk.T)[:3].T
        assert np.linalg.norm(ends_mm[1] - ends_mm[0]) == pytest.approx(length, abs=0.05)
    assert dciodvfy_errors(written.path) == []


def test_a_line_off_the_source_slices_is_given_in_the_frame_of_reference(dicom_source, tmp_path):
    # Measured on an axial reslice of an oblique series: the ends lie between source slices, so the line is a
    # SCOORD3D POLYLINE (LPS mm) in the series' frame of reference, not a line on an image it is not on.
    _case, _tp, source = dicom_source
    ras = source.affine @ np.array([[40.0, 60.0], [50.0, 50.0], [10.5, 10.5], [1.0, 1.0]])
    line = tuple(tuple(float(v) for v in ras[:3, c]) for c in (0, 1))
    lesion = Lesion("L1", measurement=LesionMeasurement(long_mm=20.0, perp_mm=12.0, long_line_mm=line))
    _c, _t, _seg, written = _write(dicom_source, tmp_path, lesions=[lesion])
    report = hd.sr.MeasurementReport.from_sequence([hd.sr.srread(written.path)])
    (lines,) = [g for g in report.get_image_measurement_groups() if g.tracking_identifier == "L1"]
    long_axis = next(m for m in lines.get_measurements() if m.name.meaning == "Long axis")
    (coords,) = long_axis.referenced_coordinates
    assert coords.value_type.value == "SCOORD3D"
    assert coords.ReferencedFrameOfReferenceUID == source.datasets[0].FrameOfReferenceUID
    assert np.allclose(np.asarray(coords.value, dtype=float), (ras[:3].T * [-1, -1, 1]), atol=1e-3)
    short_axis = next(m for m in lines.get_measurements() if m.name.meaning == "Short axis")
    assert not short_axis.referenced_coordinates  # no line given: the value alone
    assert dciodvfy_errors(written.path) == []


def test_nothing_to_report_and_bad_order_are_refused(dicom_source, tmp_path):
    _case, tp, source = dicom_source
    with pytest.raises(ValueError, match="nothing to report"):
        write_measurement_sr(source, tmp_path / "a.dcm", case_id="X", date=tp.date, time_point_order=1,
                             lesions=[], markers=[], software_version="t")
    with pytest.raises(ValueError, match="time_point_order"):
        write_measurement_sr(source, tmp_path / "a.dcm", case_id="X", date=tp.date, time_point_order=0,
                             lesions=[LESION], markers=[], software_version="t")
    assert not (tmp_path / "a.dcm").exists()


def _dsr2xml(path) -> str:
    exe = need_binary("dsr2xml")
    run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "E: " not in run.stderr, run.stderr
    return run.stdout
