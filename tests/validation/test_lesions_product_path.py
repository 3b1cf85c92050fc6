"""Lesions on real scans through the product's own path (issue 13): case folder → ingest → ``analyse_case``.

The per-case tables of issue 13 call ``segment_lesions`` on the loaded T1c (test_lesions_real*.py, the bench). The
product reads a case folder, classifies the series, makes the brain mask, N4-corrects the T1c for its registrations,
segments and tracks; what it segments must be what was validated. Before this test it segmented the N4-corrected
T1c, and automatic detection put targets outside the tumour on real scans the tables showed as safe: ReMIND-022
(a target 0 % near its SEG) and TCIA 01 Post (0 % near; 0.61 from the loaded T1c), with 07 Pre, 06 Post and 11 Post
(benchmarks/RESULTS.md, "N4 before the classical segmentation").

TCIA's NIfTI lost its voxel size (stored as 1 mm); the case folder gets the 5 mm slices assumed everywhere else
(test_lesions_real_more.py), written to a temporary folder, never into the repository. BraTS's z-scored T1c and
FLAIR are given as the data folder names them (symlinks, read with an allowed root), as a user would.
Every real scan's product path against the bench's direct path: benchmarks/RESULTS.md, "Product path parity
(l24-parity)" (benchmarks/lesions_product_parity.py).
"""

from __future__ import annotations

import datetime as dt

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.case import SeriesKind
from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case

from ..conftest import shared_data
from .test_lesions_real_more import _dice, _load_remind, tcia_scan
from .test_registration_real import turned_about

pytestmark = pytest.mark.validation


def _case_yaml(patient_id: str = "REAL-1", *dates: dt.date) -> str:
    """Timepoints after chemoradiation (default one, 2019-06-01), images in folders named by their dates."""
    dates = dates or (dt.date(2019, 6, 1),)
    start, end = dates[0] - dt.timedelta(days=200), dates[0] - dt.timedelta(days=158)
    timepoints = "".join(f"  - date: {d}\n    images: {d}/\n" for d in dates)
    return f"""\
patient: {{id: '{patient_id}', age: 60, sex: M}}
diagnosis: {{type: glioblastoma}}
treatments:
  - {{type: chemoradiation, start: {start}, end: {end}, dose_gy: 60, fractions: 30, agent: temozolomide}}
timepoints:
{timepoints}"""


def _tcia_case(folder, pid: str, *scans: tuple[str, dt.date]) -> dict[dt.date, np.ndarray]:
    """A case folder of TCIA scans (``("Pre", date)``, …) with the assumed 5 mm slices; their reference masks."""
    refs = {}
    for name, date in scans:
        t1c, affine, refs[date] = tcia_scan(f"{pid}/{name}")
        (folder / str(date)).mkdir()
        nib.save(nib.Nifti1Image(t1c, affine), folder / str(date) / "t1c.nii.gz")
    (folder / "case.yaml").write_text(_case_yaml("REAL-1", *(d for _, d in scans)))
    return refs


def _analysed(case_dir, *allow_roots, skipped_ok: bool = False):
    case = ingest_case(case_dir, allow_roots=allow_roots).case
    result = analyse_case(case)
    assert skipped_ok or not result.skipped, result.skipped
    return result


def _near_share(lesion_mask: np.ndarray, ref: np.ndarray) -> float:
    return float(ndimage.binary_dilation(ref, iterations=5)[lesion_mask].mean())


def test_tcia_01_post_the_products_automatic_target_is_the_validated_one(tmp_path):
    date = dt.date(2019, 6, 1)
    ref = _tcia_case(tmp_path, "01", ("Post", date))[date]
    (tl,) = _analysed(tmp_path).timepoints.values()
    assert tl.lesions, tl.notes
    for les in tl.lesions:
        assert _near_share(les.enhancing, ref) >= 0.9, f"{les.lesion_id} outside the reference"
    assert max(_dice(les.enhancing, ref) for les in tl.lesions) >= 0.6  # 0.609 validated (RESULTS), 0.00 on N4


@pytest.mark.parametrize("coarse_pass", [True, False], ids=["as-shipped", "without-the-coarse-pass"])
def test_tcia_05_the_tumour_at_progression_is_measured_not_called_gone(tmp_path, monkeypatch, coarse_pass):
    """05 Post: the first pass finds nothing (the tumour stands 3-3.5 local SDs); before, the first scan's targets
    were called "disappeared" at the scan of clinical progression. Now the coarse-scale pass finds it (Dice 0.79);
    where that pass finds nothing too (removed here), it is looked for at its earlier place and found ("followed").
    Either way it is measured, tracked as L1, and RANO sees it grow."""
    from pseudoprog.lesions import segment

    if not coarse_pass:
        monkeypatch.setattr(segment, "_coarse_scale_pass", lambda *a, **k: (None, []))
    pre, post = dt.date(2019, 1, 1), dt.date(2019, 6, 1)
    refs = _tcia_case(tmp_path, "05", ("Pre", pre), ("Post", post))
    result = _analysed(tmp_path)
    tl = result.timepoints[post]
    (les,) = tl.lesions
    assert les.method == ("automatic" if coarse_pass else "followed")
    # Taken on a coarser scale (or by a click at its known place), not by the first pass: said with lower confidence.
    assert les.confidence == ("low" if coarse_pass else "moderate"), les.statement()
    assert les.lesion_id == "L1" and not tl.new["L1"]
    assert _near_share(les.enhancing, refs[post]) >= 0.9
    assert _dice(les.enhancing, refs[post]) >= 0.6  # 0.79 automatic, 0.66 followed (measured)
    assert not [e for e in result.events if e.kind == "disappeared"]
    first = result.timepoints[pre].measurements["L1"]
    now = tl.measurements["L1"]
    assert now.bidimensional_product_mm2 > 1.25 * first.bidimensional_product_mm2  # RANO: ≥ 25 % growth


def test_remind_the_product_puts_no_target_outside_the_segmented_tumour(tmp_path):
    dicom = shared_data("real-glioma-dicom-remind", "3DAXT1postcontrast_MRI")
    import pydicom

    head = pydicom.dcmread(str(sorted(dicom.glob("*.dcm"))[0]), stop_before_pixels=True)
    date = dt.datetime.strptime(head.StudyDate, "%Y%m%d").date()
    (tmp_path / str(date)).symlink_to(dicom, target_is_directory=True)
    (tmp_path / "case.yaml").write_text(_case_yaml(head.PatientID, date))  # the scan's own patient and day
    _, _, ref = _load_remind()  # (column, row, slice), as the product's DICOM reader orders it
    result = _analysed(tmp_path, dicom, skipped_ok=True)  # a reader's folder pointing at the export: --allow-root
    if not result.timepoints:
        # Automatic detection judged itself not reliable here (as on the direct path): with no lesion known from
        # another scan, the scan is not assessed, with the reason — not reported as a scan without a lesion.
        ((_, why),) = result.skipped
        assert why.startswith("automatic detection not reliable here"), why
        return
    (tl,) = result.timepoints.values()
    assert tl.reference.spatial_shape == ref.shape
    for les in tl.lesions:
        assert _near_share(les.enhancing, ref) >= 0.9, f"{les.lesion_id} outside the reference"
    if not tl.lesions:
        assert any("found no enhancing lesion" in n for n in tl.notes), tl.notes


def test_tcia_05_a_tumour_missed_on_the_first_scan_is_found_there_not_called_new(tmp_path, monkeypatch):
    """Automatic detection made to find nothing on 05 Pre (as it finds nothing on 02, 07 and 10 Pre): before, the
    tumour found at 05 Post was new to the criteria (no lesion at the first scan) — RANO's new lesion, progression
    whatever its size. Now it is looked for at its place on the first scan and found there (measured: Dice 0.88,
    every voxel within 5 voxels of the reference), so RANO compares its size instead."""
    from pseudoprog.lesions import analysis

    from ..lesions.test_follow import automatic_detection_fails

    pre, post = dt.date(2019, 1, 1), dt.date(2019, 6, 1)
    refs = _tcia_case(tmp_path, "05", ("Pre", pre), ("Post", post))
    case = ingest_case(tmp_path).case
    automatic_detection_fails(monkeypatch, case, on_first=True)
    result = analysis.analyse_case(case)
    (found,) = result.timepoints[pre].lesions
    assert found.lesion_id == "L1" and found.method == "followed" and found.confidence == "moderate"
    assert _near_share(found.enhancing, refs[pre]) >= 0.9 and _dice(found.enhancing, refs[pre]) >= 0.75
    (later,) = result.timepoints[post].lesions
    assert later.lesion_id == "L1" and not result.timepoints[post].new["L1"]
    assert not [e for e in result.events if e.kind == "new"]


def test_tcia_05_a_follow_up_with_the_head_tilted_20_degrees_is_registered_as_if_it_were_not(tmp_path):
    """Two days' scans of one head can differ by 15-20° of tilt (head position, slice prescription). 05 Post is
    stored with its header turned 20° about the left-right axis through the image's centre (the same voxels: the head
    nodded on the second day and the slices followed it). Its registration onto 05 Pre must find the pose it finds
    from the header as stored, turned by the same 20°. Before the longitudinal preset's search over starting poses
    it settled 18 mm (mean over the brain; 44 mm at most) from it, accepted because its metric still beat the
    header's (benchmarks/RESULTS.md, session 41): every lesion mask carried between the two days went there too."""
    pre, post = dt.date(2019, 1, 1), dt.date(2019, 6, 1)
    straight, tilted = tmp_path / "straight", tmp_path / "tilted"
    straight.mkdir()
    tilted.mkdir()
    _tcia_case(straight, "05", ("Pre", pre), ("Post", post))
    t1c, affine, _ = tcia_scan("05/Post")
    brain_centre = affine @ np.array([*(np.array(t1c.shape) - 1) / 2.0, 1.0])
    turn = turned_about(brain_centre[:3], (20.0, 0.0, 0.0))  # a nod: about the left-right axis
    _tcia_case(tilted, "05", ("Pre", pre), ("Post", post))
    nib.save(nib.Nifti1Image(t1c, turn @ affine), tilted / str(post) / "t1c.nii.gz")
    as_stored, turned = _analysed(straight), _analysed(tilted)
    reg, reg_turned = as_stored.timepoints[post].to_baseline, turned.timepoints[post].to_baseline
    assert reg is not None and reg_turned is not None
    assert reg_turned.accepted and reg_turned.preset == "longitudinal"
    base = as_stored.timepoints[pre]
    points = base.reference.affine @ np.c_[np.argwhere(base.brain)[::25], np.ones(len(np.argwhere(base.brain)[::25]))].T
    apart = np.linalg.norm((reg_turned.fixed_to_moving - turn @ reg.fixed_to_moving) @ points, axis=0)
    assert apart.mean() <= 1.5 and apart.max() <= 3.0, f"{apart.mean():.1f} mm (mean), {apart.max():.1f} mm (max)"
    (les,) = turned.timepoints[post].lesions
    assert les.lesion_id == "L1" and not turned.timepoints[post].new["L1"]


# Automatic target Dice vs label 4 on the direct path (test_lesions_real.py; benchmarks/RESULTS.md); the product path
# gave the same lesions voxel for voxel (brain mask Dice 1.000, lesion Dice 1.00; "Product path parity").
BRATS_AUTO = {"brats_2013_pat0001_1": 0.87, "brats_2013_pat0002_1": 0.74, "brats_2013_pat0004_1": 0.73}


@pytest.mark.parametrize("name", list(BRATS_AUTO))
def test_brats_t1c_and_flair_as_named_the_products_target_is_the_validated_one(tmp_path, name):
    """The z-scored T1c and FLAIR (negative intensities, brain-stripped) in a session folder under their own names:
    ingest types them T1c and FLAIR, the FLAIR (same grid, no frame of reference) is used as given, not moved by the
    within-session registration, and automatic detection gives the validated target, never outside label 4."""
    data = shared_data("real-glioma-labelled", name)
    session = tmp_path / "2019-06-01"
    session.mkdir()
    for f in ("T1c_subtrMeanDivStd.nii.gz", "Flair_subtrMeanDivStd.nii.gz"):
        (session / f).symlink_to(data / f)
    (tmp_path / "case.yaml").write_text(_case_yaml())
    case = ingest_case(tmp_path, allow_roots=(data,)).case
    assert sorted(s.kind.value for s in case.timepoints[0].series) == ["FLAIR", "T1c"]
    result = analyse_case(case)
    assert not result.skipped, result.skipped
    (tl,) = result.timepoints.values()
    flair = np.asarray(nib.load(str(data / "Flair_subtrMeanDivStd.nii.gz")).dataobj, dtype=np.float32)
    assert tl.registrations["FLAIR"].kind == "identity"
    np.testing.assert_allclose(tl.images[SeriesKind.FLAIR], flair, atol=1e-4)
    ref = np.asarray(nib.load(str(data / "OTMultiClass.nii.gz")).dataobj).astype(int) == 4
    assert tl.lesions, tl.notes
    for les in tl.lesions:
        assert les.method == "automatic"
        assert _near_share(les.enhancing, ref) >= 0.9, f"{les.lesion_id} outside label 4"
        assert _dice(les.enhancing, ref) >= 0.6
    assert max(_dice(les.enhancing, ref) for les in tl.lesions) >= BRATS_AUTO[name] - 0.01


def test_a_3d_mprage_whose_brain_mask_left_cortex_out_is_not_assessed_rather_than_found_empty(tmp_path, monkeypatch):
    """dcm_qa_xa30's 3-D MPRAGE (a volunteer, whole head to the neck), given as a T1c: a post-contrast MPRAGE has the
    same grey-white contrast, and the classical mask leaves out most cortex (524 mL, the band tuned on spin-echo T1c;
    benchmarks/RESULTS.md, "A head imaged down to the neck"). Before, automatic detection searched that mask and the
    scan came out "no enhancing lesion found" — a finding about a brain two thirds of which was never looked at; now
    it is not assessed, with the reason and the way to a mask that holds the brain. (With the optional deepbet extra
    installed the default brain mask takes deepbet's there and the scan is assessed:
    tests/validation/test_lesions_deepbet.py; here, a default install.)"""
    import shutil

    import pseudoprog.align.brainmask as brainmask

    monkeypatch.setattr(brainmask, "deepbet_available", lambda: False)

    mprage = shared_data("real-dicom-multivendor", "dcm_qa_xa30", "Ref", "5_anat-T1w_acq-tfl.nii")
    date = dt.date(2019, 6, 1)
    (tmp_path / str(date)).mkdir()
    shutil.copyfile(mprage, tmp_path / str(date) / "t1c.nii")
    (tmp_path / "case.yaml").write_text(_case_yaml("REAL-1", date))
    result = _analysed(tmp_path, skipped_ok=True)
    assert date not in result.timepoints
    ((_, why),) = result.skipped
    assert why.startswith("the brain mask holds 5") and "was not searched" in why, why
    assert "pip install 'pseudoprog[brainmask]'" in why
    # The case's answer: before, "no new or enlarging enhancing lesion (no lesion)" and routine surveillance for a
    # scan nobody had searched; now a reader's read of that scan.
    from pseudoprog.flow import assess

    advice = assess(tmp_path, tmp_path / "out").recommendation
    assert advice.next_step is not None and advice.next_step.startswith("a reader reads the latest scan"), advice
    assert "surveillance pathway" not in advice.next_step


def test_tcia_10_nothing_found_automatically_at_clinical_progression_is_read_not_surveillance(tmp_path):
    """TCIA 10 (Post: the scan where the clinicians called progression): automatic detection finds no lesion on either
    scan ("none found": not proof that there is none; a reader's click at the reference gives Dice 0.87 / 0.60), and
    no reader reported one. Before, the answer was "no enhancing lesion … (no lesion)" and routine surveillance; now a
    reader's read of the latest scan."""
    from pseudoprog.flow import assess

    _tcia_case(tmp_path, "10", ("Pre", dt.date(2019, 6, 1)), ("Post", dt.date(2019, 8, 30)))
    result = assess(tmp_path, tmp_path / "out")
    advice = result.recommendation
    assert advice.next_step is not None and advice.next_step.startswith("a reader reads the latest scan"), advice
    assert "surveillance pathway" not in advice.next_step
    assert result.probability_true_progression.value is None
    assert any("only by automatic detection" in r for r in advice.rationale), advice.rationale
