"""The pyradiomics wrapper: geometry handed over intact, settings recorded, refusals explained."""

from __future__ import annotations

import builtins
import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from pseudoprog.case import LesionMask, Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.texture import extraction_settings, lesion_texture_rows, write_features_table
from pseudoprog.texture import features as features_module

radiomics = pytest.importorskip("radiomics", reason="pyradiomics not installed (optional texture extra)")


def _ellipsoid(shape=(40, 40, 24), spacing=(1.0, 1.0, 2.0), value=1.0e-3, semi=(10.0, 8.0, 8.0)):
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = [-(n - 1) * s / 2 for n, s in zip(shape, spacing, strict=True)]
    ii, jj, kk = np.indices(shape, dtype=float)
    x, y, z = (aff[d, d] * idx + aff[d, 3] for d, idx in enumerate((ii, jj, kk)))
    mask = (x / semi[0]) ** 2 + (y / semi[1]) ** 2 + (z / semi[2]) ** 2 <= 1.0
    rng = np.random.default_rng(0)
    data = value * (1.0 + 0.05 * rng.standard_normal(shape))
    return Volume(data.astype(np.float32), aff), mask


def test_values_in_physical_units_and_shape_in_mm() -> None:
    vol, mask = _ellipsoid()
    f = features_module.extract_features(vol, mask, image="ADC")
    assert f.features["original_firstorder_Mean"] == pytest.approx(1.0e-3, rel=0.01)
    # pyradiomics' mesh volume of the ellipsoid, in mm³ (shape comes from the mask geometry, 1x1x2 mm voxels).
    assert f.features["original_shape_MeshVolume"] == pytest.approx(4 / 3 * np.pi * 10 * 8 * 8, rel=0.05)
    assert "original_glcm_MCC" not in f.features  # excluded in the settings table (cost, instability)
    assert {"original_glcm_Contrast", "original_glrlm_RunLengthNonUniformity"} <= set(f.features)
    assert f.settings["binWidth"] == 2.5e-5 and f.settings["resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    assert f.library_version.lstrip("v").startswith("3.0")


def test_override_is_recorded_and_changes_the_result() -> None:
    vol, mask = _ellipsoid()
    base = features_module.extract_features(vol, mask, image="ADC")
    coarse = features_module.extract_features(vol, mask, image="ADC", overrides={"binWidth": 1e-4})
    assert coarse.settings["binWidth"] == 1e-4
    assert coarse.features["original_firstorder_Entropy"] < base.features["original_firstorder_Entropy"]


def test_refusals() -> None:
    vol, mask = _ellipsoid()
    with pytest.raises(CannotAssessError, match="empty"):
        features_module.extract_features(vol, np.zeros_like(mask), image="ADC")
    with pytest.raises(ValueError, match="shape"):
        features_module.extract_features(vol, mask[:-1], image="ADC")
    with pytest.raises(ValueError, match="no texture settings"):
        extraction_settings("DWI")
    tiny = np.zeros_like(mask)
    tiny[20, 20, 12] = True
    with pytest.raises(CannotAssessError, match="refused"):
        features_module.extract_features(vol, tiny, image="ADC")


def test_missing_pyradiomics_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "radiomics" or name.startswith("radiomics."):
            raise ImportError("No module named 'radiomics'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert not features_module.pyradiomics_available()
    vol, mask = _ellipsoid()
    with pytest.raises(CannotAssessError, match="pyradiomics not installed"):
        features_module.extract_features(vol, mask, image="ADC")


def test_table_rows_per_image_grid_and_csv(tmp_path: Path) -> None:
    adc, mask = _ellipsoid()
    # The lesion mask lives on a finer "T1c" grid; rows are computed on the ADC grid it is carried to.
    fine_aff = adc.affine.copy()
    fine_aff[:3, :3] /= 2.0
    fine_shape = tuple(2 * n for n in adc.spatial_shape)
    ii, jj, kk = np.indices(fine_shape, dtype=float)
    x, y, z = (fine_aff[d, d] * idx + fine_aff[d, 3] for d, idx in enumerate((ii, jj, kk)))
    fine_mask = (x / 10) ** 2 + (y / 8) ** 2 + (z / 8) ** 2 <= 1
    rows, settings, notes = lesion_texture_rows(
        {"ADC": adc}, [LesionMask("L1", fine_mask, fine_aff)], date=dt.date(2026, 1, 5)
    )
    assert notes == [] and len(rows) == 1
    assert rows[0]["voxels_on_image_grid"] == pytest.approx(mask.sum(), rel=0.1)
    path = tmp_path / "features" / "texture.csv"
    write_features_table(rows, settings, path)
    with path.open() as fh:
        read = list(csv.DictReader(fh))
    assert read[0]["lesion_id"] == "L1" and read[0]["image"] == "ADC"
    assert float(read[0]["original_firstorder_Mean"]) == rows[0]["original_firstorder_Mean"]  # full precision
    meta = json.loads(path.with_suffix(".settings.json").read_text())
    assert meta["settings_per_image"]["ADC"]["binWidth"] == 2.5e-5
    with pytest.raises(ValueError, match="no rows"):
        write_features_table([], {}, path)
