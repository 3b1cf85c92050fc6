"""The texture map builder (maps/texture.py): a features table per case, and the reason when it cannot run."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.case import LesionMask, Timepoint
from pseudoprog.errors import CannotAssessError
from pseudoprog.handoff import TimepointInputs
from pseudoprog.ingest import scan_images
from pseudoprog.maps import BUILDERS
from pseudoprog.maps import texture as maps_texture
from pseudoprog.markers.texture import TextureTable, write_texture_table

pytest.importorskip("radiomics", reason="pyradiomics not installed (optional texture extra)")
DATE = dt.date(2026, 2, 1)


def _case(tmp_path: Path) -> tuple[TimepointInputs, Timepoint, LesionMask]:
    folder = tmp_path / "img"
    folder.mkdir()
    shape = (48, 48, 24)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    aff[:3, 3] = [-24, -24, -24]
    ii, jj, kk = np.indices(shape, dtype=float)
    lesion = (ii - 24) ** 2 + (jj - 24) ** 2 + (2 * (kk - 12)) ** 2 <= 9**2
    rng = np.random.default_rng(2)
    t1c = 600 + 50 * rng.standard_normal(shape) + 400 * lesion
    adc = 0.8e-3 + 0.05e-3 * rng.standard_normal(shape) + 0.6e-3 * lesion
    nib.save(nib.Nifti1Image(t1c.astype(np.float32), aff), str(folder / "T1c.nii.gz"))
    nib.save(nib.Nifti1Image(adc.astype(np.float32), aff), str(folder / "ADC.nii.gz"))
    tp = Timepoint(date=DATE, image_dir=folder, series=scan_images(folder).series)
    return TimepointInputs(tp, tmp_path / "o"), tp, LesionMask("L1", lesion, aff)


def test_texture_table_written_for_each_image(tmp_path: Path) -> None:
    assert ("texture", maps_texture.build) in BUILDERS
    ctx, _, mask = _case(tmp_path)
    ctx = replace(ctx, lesion_masks=(mask,))
    built = maps_texture.build(ctx)
    written = write_texture_table([built.results[TextureTable]], ctx.out_dir)
    [out] = written.at(DATE).files
    assert out.name == "texture_features" and sorted(out.parameters["images"]) == ["ADC", "T1c"]
    with (ctx.out_dir / out.path).open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["image"] for r in rows) == ["ADC", "T1c"]
    assert all(r["lesion_id"] == "L1" and r["date"] == DATE.isoformat() for r in rows)
    assert (ctx.out_dir / "features" / "texture.settings.json").exists()


def test_texture_without_masks_says_why(tmp_path: Path) -> None:
    ctx, _, _ = _case(tmp_path)
    with pytest.raises(CannotAssessError, match="lesion masks"):
        maps_texture.build(ctx)
