"""The optional deepbet brain mask (extra ``pseudoprog[brainmask]``): skipped when it is not installed.

Tolerances: on the phantom with a resection cavity, Dice ≥ 0.95 against the true brain on
post-contrast T1 and FLAIR and the whole cavity kept inside; on the raw (unstripped) TCGA-FG-6692
post-contrast T1, a brain volume between 1000 and 1900 mL. ``--brain-mask auto`` (benchmarks/RESULTS.md, "deepbet
measured"): on dcm_qa_xa30's 3-D MPRAGE, whose classical mask holds 517 mL, deepbet's (measured 1573 mL, Dice 0.87
against ROBEX's 1903 mL mask) within 1400-1750 mL, and the scan then assessed (a volunteer: no target); on the raw
TCGA post-contrast T1, whose classical mask is plausible (1717 mL), the classical mask, deepbet not run.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.align.brainmask import brain_mask, brain_mask_checked
from pseudoprog.case import Volume
from pseudoprog.phantoms.anatomy import BRAIN, Tissue
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series

from ..conftest import shared_data

pytestmark = pytest.mark.validation
pytest.importorskip("deepbet", reason="optional extra pseudoprog[brainmask] not installed")


@pytest.mark.parametrize("name", ["T1c", "FLAIR"])
def test_deepbet_on_post_contrast_and_flair_with_a_cavity(name):
    sc = SCENARIOS["true_progression"]
    tp = build_timepoint(sc, sc.scans[0], seed=7)
    s = {x.name: x for x in structural_series(tp)}
    truth = np.isin(tp.labels, [int(t) for t in BRAIN])
    mask, method = brain_mask(Volume(s[name].data, s[name].affine), method="deepbet")
    assert method == "deepbet"
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) >= 0.95
    assert mask[tp.labels == Tissue.CAVITY].mean() > 0.99


def test_deepbet_on_a_raw_clinical_post_contrast_t1():
    root = shared_data("tcga-lgg-brats-toolkit", "TCGA-FG-6692_raw")
    path = next(root.glob("*POST_GAD*.nii.gz"))
    img = nib.load(str(path))
    vol = Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    mask, _ = brain_mask(vol, method="deepbet")
    assert 1000 <= vol.volume_mm3(mask) / 1000 <= 1900


def _mprage() -> Volume:
    img = nib.load(str(shared_data("real-dicom-multivendor", "dcm_qa_xa30", "Ref", "5_anat-T1w_acq-tfl.nii")))
    return Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def test_auto_replaces_the_classical_mask_of_a_3d_mprage():
    vol = _mprage()
    _, used, check = brain_mask_checked(vol, method="auto")
    assert used == "deepbet"
    assert 1400 <= check.volume_ml <= 1750
    assert check.missing_brain == ""
    assert any(w.startswith("the classical brain mask held 5") for w in check.warnings), check.warnings


def test_auto_keeps_a_plausible_classical_mask_of_a_raw_clinical_t1(monkeypatch):
    import pseudoprog.align.brainmask as bm

    monkeypatch.setattr(bm, "deepbet_mask", lambda volume: pytest.fail("deepbet ran on a plausible classical mask"))
    root = shared_data("tcga-lgg-brats-toolkit", "TCGA-FG-6692_raw")
    img = nib.load(str(next(root.glob("*POST_GAD*.nii.gz"))))
    _, used, check = brain_mask_checked(Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine), method="auto")
    assert used == "classical" and 1500 <= check.volume_ml <= 1800


def test_a_3d_mprage_is_assessed_with_the_auto_brain_mask(tmp_path):
    # tests/validation/test_lesions_product_path.py: with the classical mask the same scan is not assessed.
    import datetime as dt
    import shutil

    from pseudoprog.ingest import ingest_case
    from pseudoprog.lesions.analysis import analyse_case

    from .test_lesions_product_path import _case_yaml

    date = dt.date(2019, 6, 1)
    (tmp_path / str(date)).mkdir()
    shutil.copyfile(
        shared_data("real-dicom-multivendor", "dcm_qa_xa30", "Ref", "5_anat-T1w_acq-tfl.nii"),
        tmp_path / str(date) / "t1c.nii",
    )
    (tmp_path / "case.yaml").write_text(_case_yaml("REAL-1", date))
    result = analyse_case(ingest_case(tmp_path).case, brain_method="auto")
    assert not result.skipped, result.skipped
    tl = result.timepoints[date]
    assert tl.brain_method == "deepbet"
    assert tl.lesions == []  # a volunteer
    assert any("found no enhancing lesion" in n for n in tl.notes), tl.notes
