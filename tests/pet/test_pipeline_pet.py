"""The pipeline's PET slot: markers per lesion, an SUV map on disk, and the reasons when it cannot run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.case import Case, Diagnosis, DiagnosisType, LesionMask, Patient, SeriesKind, Timepoint
from pseudoprog.errors import CannotAssessError
from pseudoprog.ingest import scan_images
from pseudoprog.pipeline import AssessContext, maps_pet

from .conftest import synthetic_t1c

DATE = dt.date(2026, 3, 2)


def _context(folder: Path, out: Path, masks: tuple[LesionMask, ...]) -> tuple[AssessContext, Timepoint]:
    tp = Timepoint(date=DATE, image_dir=folder, series=scan_images(folder).series)
    case = Case(Patient("P"), Diagnosis(DiagnosisType.GLIOBLASTOMA), (), (tp,))
    ctx = AssessContext(case=case, out_dir=out)
    ctx.products["lesion_masks"] = {DATE: masks}
    return ctx, tp


def test_maps_pet_markers_and_suv_map(pet_dicom, tmp_path: Path) -> None:
    phantom, pet_folder = pet_dicom
    folder = tmp_path / "img"
    shutil.copytree(pet_folder, folder / "pet")
    t1c, lesion = synthetic_t1c()
    nib.save(nib.Nifti1Image(t1c.data, t1c.affine), str(folder / "T1c.nii.gz"))
    ctx, tp = _context(folder, tmp_path / "out", (LesionMask("L1", lesion, t1c.affine),))
    assert {s.kind for s in tp.series} == {SeriesKind.PET, SeriesKind.T1C}
    maps_pet(ctx, tp)
    markers = {m.name: m for m in ctx.markers[DATE]}
    assert markers["pet_tbr_max"].value == pytest.approx(phantom.tbr, rel=0.02)
    assert markers["pet_tbr_max"].quality["tracer"] == "FET"
    assert markers["pet_tbr_max"].lesion_id == "L1"
    [suv_map] = ctx.maps[DATE]
    img = nib.load(str(ctx.out_dir / suv_map.path))
    assert suv_map.unit == "g/ml" and float(np.max(img.get_fdata())) == pytest.approx(phantom.lesion_suv, rel=1e-3)


def test_maps_pet_without_t1c_or_masks(pet_dicom, tmp_path: Path) -> None:
    _, pet_folder = pet_dicom
    folder = tmp_path / "img"
    shutil.copytree(pet_folder, folder / "pet")
    ctx, tp = _context(folder, tmp_path / "out", ())
    with pytest.raises(CannotAssessError, match="no T1c"):
        maps_pet(ctx, tp)
    t1c, _ = synthetic_t1c()
    nib.save(nib.Nifti1Image(t1c.data, t1c.affine), str(folder / "T1c.nii.gz"))
    ctx, tp = _context(folder, tmp_path / "out", ())
    maps_pet(ctx, tp)
    assert ctx.markers.get(DATE, []) == []
    assert any("no lesion masks" in n.reason for n in ctx.not_assessed)


def test_pet_without_dose_headers_is_skipped_with_the_field(pet_dicom, tmp_path: Path) -> None:
    import pydicom

    _, pet_folder = pet_dicom
    folder = tmp_path / "img"
    shutil.copytree(pet_folder, folder / "pet")
    for f in (folder / "pet").glob("*.dcm"):
        ds = pydicom.dcmread(f)
        del ds.PatientWeight
        ds.save_as(f)
    t1c, lesion = synthetic_t1c()
    nib.save(nib.Nifti1Image(t1c.data, t1c.affine), str(folder / "T1c.nii.gz"))
    ctx, tp = _context(folder, tmp_path / "out", (LesionMask("L1", lesion, t1c.affine),))
    maps_pet(ctx, tp)
    assert ctx.markers.get(DATE, []) == []
    assert any(n.stage == "pet" and "PatientWeight" in n.reason for n in ctx.not_assessed)
