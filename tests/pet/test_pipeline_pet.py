"""The PET map builder (maps/pet.py): markers per lesion, an SUV map on disk, and the reasons when it cannot run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.case import LesionMask, SeriesKind, Timepoint
from pseudoprog.errors import CannotAssessError
from pseudoprog.handoff import StageOutput, TimepointInputs
from pseudoprog.ingest import scan_images
from pseudoprog.maps import pet as maps_pet

from .conftest import synthetic_t1c

DATE = dt.date(2026, 3, 2)


def _context(folder: Path, out: Path, masks: tuple[LesionMask, ...]) -> tuple[TimepointInputs, Timepoint]:
    tp = Timepoint(date=DATE, image_dir=folder, series=scan_images(folder).series)
    return TimepointInputs(tp, out, lesion_masks=masks), tp


def _build(inputs: TimepointInputs) -> StageOutput:
    return maps_pet.build(inputs)


def test_maps_pet_markers_and_suv_map(pet_dicom, tmp_path: Path) -> None:
    phantom, pet_folder = pet_dicom
    folder = tmp_path / "img"
    shutil.copytree(pet_folder, folder / "pet")
    t1c, lesion = synthetic_t1c()
    nib.save(nib.Nifti1Image(t1c.data, t1c.affine), str(folder / "T1c.nii.gz"))
    ctx, tp = _context(folder, tmp_path / "out", (LesionMask("L1", lesion, t1c.affine),))
    assert {s.kind for s in tp.series} == {SeriesKind.PET, SeriesKind.T1C}
    out = _build(ctx)
    markers = {m.name: m for m in out.at(DATE).markers}
    assert markers["pet_tbr_max"].value == pytest.approx(phantom.tbr, rel=0.02)
    assert markers["pet_tbr_max"].quality["tracer"] == "FET"
    assert markers["pet_tbr_max"].lesion_id == "L1"
    [suv_map] = out.at(DATE).maps
    img = nib.load(str(ctx.out_dir / suv_map.path))
    assert suv_map.unit == "g/ml" and float(np.max(img.get_fdata())) == pytest.approx(phantom.lesion_suv, rel=1e-3)


def test_maps_pet_without_t1c_or_masks(pet_dicom, tmp_path: Path) -> None:
    _, pet_folder = pet_dicom
    folder = tmp_path / "img"
    shutil.copytree(pet_folder, folder / "pet")
    ctx, _ = _context(folder, tmp_path / "out", ())
    with pytest.raises(CannotAssessError, match="no T1c"):
        _build(ctx)
    t1c, _ = synthetic_t1c()
    nib.save(nib.Nifti1Image(t1c.data, t1c.affine), str(folder / "T1c.nii.gz"))
    ctx, _ = _context(folder, tmp_path / "out", ())
    out = _build(ctx)
    assert out.at(DATE).markers == []
    assert any("no lesion masks" in n.reason for n in out.not_assessed)


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
    ctx, _ = _context(folder, tmp_path / "out", (LesionMask("L1", lesion, t1c.affine),))
    out = _build(ctx)
    assert out.at(DATE).markers == []
    assert any(n.stage == "pet" and "PatientWeight" in n.reason for n in out.not_assessed)
