"""Classification: object type first, then naming conventions on whole tokens of the name, then physics.

Each test reproduces a misclassification seen on real data (issue 13): a case id, a timepoint label or a
substring must never decide the kind of a series.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.case import AcquisitionParams, SeriesKind
from pseudoprog.ingest import scan_images
from pseudoprog.ingest.classify import classify, classify_by_words
from pseudoprog.phantoms.writers import SyntheticSeries, write_nifti

T1_PHYSICS = AcquisitionParams(echo_time_ms=2.5, repetition_time_ms=450.0)


def test_mr_object_named_brats_met_is_not_pet():
    c = classify(description="BraTS-MET-00001-000", params=AcquisitionParams(), modality="MR")
    assert c.kind is not SeriesKind.PET
    # Modality MR with T1 physics: the physics decides, and the ignored name is said.
    c = classify(description="BraTS-MET-00001-000 PET", params=T1_PHYSICS, modality="MR")
    assert c.kind is SeriesKind.T1
    assert SeriesKind.PET in c.alternatives and "Modality is MR" in c.reason
    # A real PET object is PET whatever its name.
    assert classify(description="BraTS-MET t1c", params=AcquisitionParams(), modality="PT").kind is SeriesKind.PET


@pytest.mark.parametrize(
    ("stem", "kind"),
    [
        ("BraTS-MET-00001-000-t1n", SeriesKind.T1),
        ("BraTS-MET-00001-000-t1c", SeriesKind.T1C),
        ("BraTS-MET-00001-000-t2w", SeriesKind.T2),
        ("BraTS-MET-00001-000-t2f", SeriesKind.FLAIR),
        ("BraTS-GLI-00002-001-t2f", SeriesKind.FLAIR),
        ("BraTS20_Training_001_t1", SeriesKind.T1),
        ("BraTS20_Training_001_t1ce", SeriesKind.T1C),
        ("BraTS20_Training_001_t2", SeriesKind.T2),
        ("BraTS20_Training_001_flair", SeriesKind.FLAIR),
        ("BraTS20_Training_001_seg", SeriesKind.SEG),
        ("sub-01_ses-01_T1w", SeriesKind.T1),
        ("sub-01_ses-01_ce-gadolinium_T1w", SeriesKind.T1C),
        ("sub-01_ses-01_FLAIR", SeriesKind.FLAIR),
        ("sub-01_ses-01_T2w", SeriesKind.T2),
    ],
)
def test_brats_and_bids_suffixes(stem, kind):
    c = classify_by_words(stem)
    assert c is not None and c.kind is kind, (stem, c)


@pytest.mark.parametrize(
    ("stem", "kind"),
    [
        # A timepoint label "Pre"/"Post" (or BIDS ses-pre / ses-post) is not a contrast statement.
        ("sub-01_ses-post_T1w", SeriesKind.T1),
        ("sub-01_ses-pre_T1w", SeriesKind.T1),
        ("sub-01_ses-pre_ce-gadolinium_T1w", SeriesKind.T1C),
        ("Patient7_Post_t2", SeriesKind.T2),
        ("Patient7_Pre_flair", SeriesKind.FLAIR),
    ],
)
def test_timepoint_labels_never_decide(stem, kind):
    c = classify_by_words(stem)
    assert c is not None and c.kind is kind, (stem, c)


@pytest.mark.parametrize("stem", ["Patient7_Pre", "Case-Post", "PRE", "2024-01-05_post"])
def test_a_timepoint_label_alone_is_not_t1_or_t1c(stem):
    c = classify_by_words(stem)
    assert c is None or c.kind not in (SeriesKind.T1, SeriesKind.T1C), (stem, c)


@pytest.mark.parametrize(
    ("text", "not_kind"),
    [
        ("PAT_ADSC01 T1", SeriesKind.DSC),  # "dsc" inside an id token
        ("ACE_T2 axial", SeriesKind.T1C),  # "ce_" inside a word
        ("MPT1_9 T2", SeriesKind.T1),  # "t1_" inside an id
        ("LDCE4 FLAIR", SeriesKind.DCE),
    ],
)
def test_substrings_inside_tokens_never_decide(text, not_kind):
    c = classify_by_words(text)
    assert c is not None and c.kind is not not_kind, (text, c)


def test_common_scanner_protocol_names():
    cases = {
        "AX T1 MPRAGE": SeriesKind.T1,
        "T1 MPRAGE POST": SeriesKind.T1C,
        "AX T1+C": SeriesKind.T1C,
        "t1_mprage_tra_Gd": SeriesKind.T1C,
        "AX T2 FLAIR": SeriesKind.FLAIR,
        "t2_tirm_tra_dark-fluid": SeriesKind.FLAIR,
        "ep2d_diff_3scan_trace": SeriesKind.ADC,
        "ep2d_perf": SeriesKind.DSC,
        "AX DWI": SeriesKind.DWI,
    }
    for text, kind in cases.items():
        c = classify_by_words(text)
        assert c is not None and c.kind is kind, (text, c)


def test_an_uncertain_call_names_its_alternatives():
    # The name says FLAIR, the physics says T1-weighted (short TE and TR, no inversion): uncertain.
    c = classify(description="AX FLAIR", params=T1_PHYSICS, modality="MR")
    assert c.kind is SeriesKind.FLAIR
    assert c.alternatives == (SeriesKind.T1,)
    assert "uncertain" in c.reason and "T1" in c.reason
    # Name and physics agree: certain, no alternatives.
    c = classify(description="AX T1", params=T1_PHYSICS, modality="MR")
    assert c.kind is SeriesKind.T1 and c.alternatives == ()


def test_scanned_brats_met_folder_types_every_series_from_its_suffix(tmp_path):
    data = np.ones((4, 4, 3), np.float32)
    for suffix in ("t1n", "t1c", "t2w", "t2f"):
        write_nifti(
            SyntheticSeries(name=f"BraTS-MET-00001-000-{suffix}", kind=SeriesKind.OTHER, data=data, affine=np.eye(4)),
            tmp_path,
        )
    kinds = {s.description.rsplit("-", 1)[-1]: s.kind for s in scan_images(tmp_path).series}
    assert kinds == {"t1n": SeriesKind.T1, "t1c": SeriesKind.T1C, "t2w": SeriesKind.T2, "t2f": SeriesKind.FLAIR}
