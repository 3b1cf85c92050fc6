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
        # What found it and how far to rely on it (issue 13: automatic detection states its confidence).
        assert (les["method"], les["found_by"], les["confidence"]) == ("automatic", "first pass", "high")
        assert les["contrast_local_sd"] >= 3.0
        assert abs(les["measurement"]["long_mm"] - tt["lesions"][0]["long_mm"]) <= 1.5
        img = nib.load(str(out / tp["label_map"]))
        labels = np.asarray(img.dataobj)
        voxel = float(abs(np.linalg.det(img.affine[:3, :3])))
        assert (labels == 11).sum() * voxel == pytest.approx(les["measurement"]["enhancing_volume_mm3"], abs=0.01)
    assert "SYN-RN" not in (out / "lesions.json").read_text()  # no patient identifier in outputs
    text = " ".join(result.output.split())  # the console says what found each lesion, with its confidence
    assert "L1: " in text and "automatic detection's first pass (high confidence);" in text


def test_lesions_command_bad_option_is_a_clear_error(phantom_cases, tmp_path):
    case = phantom_cases("radiation_necrosis_after_srs", "nifti")
    result = runner.invoke(app, ["lesions", str(case), "--out", str(tmp_path / "o"), "--across-sessions", "bspline"])
    assert result.exit_code == 2 and "across_sessions" in result.output


def test_a_lesions_run_that_finds_nothing_and_a_lesion_not_found_say_so(monkeypatch, tmp_path):
    """Zero lesions at a timepoint prints so (with what segmentation saw); a tracked lesion not found at a later
    timepoint is a warning in the CLI output and in the stage output (hence the report)."""
    import datetime as dt
    from types import SimpleNamespace

    import pseudoprog.ingest as ingest
    import pseudoprog.lesions.analysis as analysis
    import pseudoprog.lesions.output as output
    from pseudoprog.lesions.stage import run_lesions
    from pseudoprog.lesions.tracking import TrackEvent

    d0, d1 = dt.date(2025, 1, 1), dt.date(2025, 4, 1)
    tl = SimpleNamespace(
        notes=["automatic detection found no enhancing lesion"],
        lesions=[],
        to_baseline=None,
        registrations={},
        midline=None,
        refused=None,
        partial_search=None,
    )
    fake = SimpleNamespace(
        timepoints={d0: tl, d1: tl},
        events=[TrackEvent(d1, "disappeared", "L1")],
        skipped=[],
        dose_note=None,
        lesion_objects=lambda date: [],
        lesion_masks=lambda date: {},
    )
    case = SimpleNamespace(timepoints=[SimpleNamespace(series=("t1c",), date=d0, seeds=(), lesions=())])
    monkeypatch.setattr(ingest, "ingest_case", lambda path, **kw: SimpleNamespace(case=case, warnings=()))
    monkeypatch.setattr(analysis, "analyse_case", lambda *a, **k: fake)
    monkeypatch.setattr(output, "write_lesions", lambda result, out: {})
    result = runner.invoke(app, ["lesions", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2025-01-01: no enhancing lesion found in the images" in text
    assert "automatic detection found no enhancing lesion" in text
    assert "2025-04-01: lesion L1: disappeared — not found at this timepoint" in text
    stage = run_lesions(case, {})  # type: ignore[arg-type]
    assert any("L1: disappeared — not found" in w for w in stage.at(d1).warnings)
    assert "no enhancing lesion found in the images" in stage.at(d0).warnings


def test_lesions_and_inspect_take_allow_root_like_assess(phantom_cases, tmp_path):
    """A reader's case folder whose image folders are symlinks to an export elsewhere (the product-path parity
    audit, l24-parity: ReMIND-022's DICOM, BraTS and TCGA NIfTI as named in the data folder) is read by `assess`
    with --allow-root; `lesions` and `inspect` had no such option, so the same folder could not be segmented."""
    phantom = phantom_cases("radiation_necrosis_after_srs", "nifti")
    case = tmp_path / "case"
    case.mkdir()
    (case / "case.yaml").write_text((phantom / "case.yaml").read_text())
    for folder in phantom.iterdir():
        if folder.is_dir():
            (case / folder.name).symlink_to(folder, target_is_directory=True)
    refused = runner.invoke(app, ["inspect", str(case)])
    assert refused.exit_code != 0 and "outside the case folder" in refused.output
    listed = runner.invoke(app, ["inspect", str(case), "--allow-root", str(phantom)])
    assert listed.exit_code == 0, listed.output
    out = tmp_path / "out"
    args = ["lesions", str(case), "--out", str(out), "--within-session", "header", "--allow-root", str(phantom)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "lesions.json").exists()


def test_lesions_says_what_ingest_could_not_decide(tmp_path):
    """A user's T1c named as TCIA Brain-Tumor-Progression names it (``Post_Scan_T1``: post-treatment) is typed T1;
    the timepoint is then "not assessed: no post-contrast T1 series". Ingest's warning says which series it saw and
    the case.yaml line that fixes it (``series: {...: T1c}``); `lesions` dropped it (l24-parity audit)."""
    session = tmp_path / "case" / "2019-06-01"
    session.mkdir(parents=True)
    nib.save(
        nib.Nifti1Image(np.zeros((16, 16, 8), np.float32), np.diag([1.0, 1.0, 5.0, 1.0])),
        session / "Post_Scan_T1.nii.gz",
    )
    (tmp_path / "case" / "case.yaml").write_text(
        "patient: {id: P1}\ndiagnosis: {type: glioblastoma}\n"
        "timepoints:\n  - date: 2019-06-01\n    images: 2019-06-01/\n"
    )
    result = runner.invoke(app, ["lesions", str(tmp_path / "case"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "not assessed" in text and "no post-contrast T1 (T1c) identified" in text and "T1c}" in text
