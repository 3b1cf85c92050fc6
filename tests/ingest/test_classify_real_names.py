"""Misleading file names of the real data in ../shared/data (issue 13): case ids, scanner tags and timepoint
labels inside the name never decide; the contrast word or suffix does. Only the names are used here."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.case import AcquisitionParams, Series, SeriesKind
from pseudoprog.ingest import scan_images
from pseudoprog.ingest.classify import classify
from pseudoprog.ingest.series import classification_warnings
from pseudoprog.phantoms.writers import SyntheticSeries, write_nifti

REAL_NAMES = {
    # TCGA-FG-6692 raw (Siemens): "OtherEXampleTCIA", "Si", the case id and sequence tags around the contrast.
    "MRHR_FLAIR_AX_OtherEXampleTCIA_TCGA-FG-6692_Si_TCGA-FG-6692_MRHR_FLAIR_AX_SE_IR_5_tir2d1_21_fla": SeriesKind.FLAIR,
    "MRHR_T1_AX_POST_GAD_OtherEXampleTCIA_TCGA-FG-6692_Si_TCGA-FG-6692_MRHR_T1_AX_POST_GAD_SE_13_se2d1r_t1c": (
        SeriesKind.T1C
    ),
    "MRHR_T2_AX_OtherEXampleTCIA_TCGA-FG-6692_Si_TCGA-FG-6692_MRHR_T2_AX_SE_2_tse2d1_11_t2": SeriesKind.T2,
    "T1_AX_OtherEXampleTCIA_TCGA-FG-6692_Si_TCGA-FG-6692_T1_AX_SE_10_se2d1_t1": SeriesKind.T1,
    # TCGA-DU-7294 (HD-BET outputs): the tool name and "native" before the suffix.
    "TCGA-DU-7294_hdbet_native_t1c": SeriesKind.T1C,
    "TCGA-DU-7294_hdbet_native_fla": SeriesKind.FLAIR,
    "TCGA-DU-7294_hdbet_native_t2": SeriesKind.T2,
    # BRATS 2015 via DeepMedic: the preprocessing named after the contrast.
    "T1c_subtrMeanDivStd": SeriesKind.T1C,
    "Flair_subtrMeanDivStd": SeriesKind.FLAIR,
    # BraTS 2023 metastases: "MET" is not PET; t2f is FLAIR.
    "BraTS-MET-00001-000-t2f": SeriesKind.FLAIR,
    "BraTS-MET-00001-000-t1c": SeriesKind.T1C,
    # TCIA Brain-Tumor-Progression: "Pre"/"Post" are the timepoints (both images are post-contrast, but the
    # name does not say so): the timepoint never makes a T1c, and the mask is a mask.
    "Pre_Scan_T1": SeriesKind.T1,
    "Post_Scan_T1": SeriesKind.T1,
    "Post_Mask": SeriesKind.SEG,
}


@pytest.mark.parametrize(("name", "kind"), list(REAL_NAMES.items()))
def test_real_file_names_are_typed_by_their_contrast_word(name, kind):
    c = classify(description=name, params=AcquisitionParams())  # NIfTI files: no DICOM Modality
    assert c.kind is kind, (name, c)


def _series(kind: SeriesKind, description: str, reason: str = "") -> Series:
    return Series(
        uid=description,
        kind=kind,
        description=description,
        source_format="nifti",
        files=(),
        classification_reason=reason,
    )


def test_a_case_with_no_identifiable_t1c_says_so():
    found = [_series(SeriesKind.T1, "Pre_Scan_T1"), _series(SeriesKind.FLAIR, "AX FLAIR")]
    (warning,) = classification_warnings(found)
    assert warning.startswith("no post-contrast T1 (T1c) identified among 2 series")
    assert "'Pre_Scan_T1'" in warning and "series: {<description or file name>: T1c}" in warning
    # With a T1c there is nothing to say; a perfusion-only folder is not an anatomical exam.
    assert classification_warnings([*found, _series(SeriesKind.T1C, "AX T1 POST")]) == []
    assert classification_warnings([_series(SeriesKind.DSC, "ep2d_perf")]) == []


def test_an_uncertain_classification_is_reported_with_its_alternatives():
    c = classify(description="AX FLAIR", params=AcquisitionParams(echo_time_ms=2.5, repetition_time_ms=450.0))
    found = [_series(c.kind, "AX FLAIR", c.reason), _series(SeriesKind.T1C, "AX T1 POST")]
    (warning,) = classification_warnings(found)
    assert warning.startswith("series 'AX FLAIR' taken as FLAIR") and "alternatives: T1" in warning


def test_scanning_a_folder_without_a_t1c_warns(tmp_path):
    data = np.ones((4, 4, 3), np.float32)
    for stem in ("Pre_Scan_T1", "Post_Scan_T1"):
        write_nifti(SyntheticSeries(name=stem, kind=SeriesKind.OTHER, data=data, affine=np.eye(4)), tmp_path)
    scan = scan_images(tmp_path)
    assert {s.kind for s in scan.series} == {SeriesKind.T1}
    assert any(w.startswith("no post-contrast T1 (T1c) identified among 2 series") for w in scan.warnings)
