"""`pseudoprog lesions CASE --out DIR`: lesions.json and label maps on the native T1c grid."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from pseudoprog.cli import app

runner = CliRunner()


def test_lesions_command_writes_json_and_label_maps(phantom_cases, tmp_path):
    case = phantom_cases("radiation_necrosis_after_srs", "nifti")
    out = tmp_path / "out"
    result = runner.invoke(app, ["lesions", str(case), "--out", str(out), "--within-session", "header"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "lesions.json").read_text())
    truth = json.loads((case / "truth.json").read_text())
    assert [t["date"] for t in doc["timepoints"]] == [t["date"] for t in truth["timepoints"]]
    for tp, tt in zip(doc["timepoints"], truth["timepoints"], strict=True):
        (les,) = tp["lesions"]
        assert les["id"] == "L1"
        assert abs(les["measurement"]["long_mm"] - tt["lesions"][0]["long_mm"]) <= 1.5
        img = nib.load(str(out / tp["label_map"]))
        labels = np.asarray(img.dataobj)
        voxel = float(abs(np.linalg.det(img.affine[:3, :3])))
        assert (labels == 11).sum() * voxel == pytest.approx(les["measurement"]["enhancing_volume_mm3"], abs=0.01)
    assert "SYN-RN" not in (out / "lesions.json").read_text()  # no patient identifier in outputs


def test_lesions_command_bad_option_is_a_clear_error(phantom_cases, tmp_path):
    case = phantom_cases("radiation_necrosis_after_srs", "nifti")
    result = runner.invoke(app, ["lesions", str(case), "--out", str(tmp_path / "o"), "--across-sessions", "bspline"])
    assert result.exit_code == 2 and "across_sessions" in result.output
