"""case.yaml keys of the lesions stage: lesions[].seed, lesions[].mask, timepoints[].mask."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pseudoprog.errors import InputError
from pseudoprog.ingest import read_case_yaml

HEAD = """
patient: {id: X-1}
diagnosis: {type: glioblastoma}
treatments: [{type: surgery, date: 2026-01-10}]
timepoints:
  - date: 2026-03-20
    images: scan/
"""


def _case(tmp_path: Path, body: str) -> Path:
    (tmp_path / "scan").mkdir(exist_ok=True)
    (tmp_path / "masks").mkdir(exist_ok=True)
    (tmp_path / "masks" / "l1.nii.gz").write_bytes(b"")
    (tmp_path / "case.yaml").write_text(HEAD + textwrap.indent(textwrap.dedent(body), "    "))
    return tmp_path


def test_seeds_and_masks_parse(tmp_path):
    case, _ = read_case_yaml(
        _case(
            tmp_path,
            """
            lesions:
              - {id: L1, seed: {point_mm: [34, 18, 9], radius_mm: 15}}
              - {id: L2, seed: {box_voxel: [[10, 10, 5], [20, 22, 9]]}}
              - {id: L3, mask: masks/l1.nii.gz}
              - {id: L4, long_mm: 12, perp_mm: 10, mask: {path: masks/l1.nii.gz, label: 2}}
            mask: {path: masks/l1.nii.gz, enhancing_labels: [4], core_labels: [1], flair_labels: [2]}
            """,
        )
    )
    tp = case.timepoints[0]
    first = tp.seeds[0]
    assert (first.lesion_id, first.space, first.point, first.radius_mm) == ("L1", "mm", (34.0, 18.0, 9.0), 15.0)
    assert tp.seeds[1].space == "voxel" and tp.seeds[1].box == ((10.0, 10.0, 5.0), (20.0, 22.0, 9.0))
    by_id = {m.lesion_id: m for m in tp.masks}
    assert by_id["L3"].label is None and by_id["L4"].label == 2
    whole = by_id[None]
    assert whole.enhancing_labels == (4,) and whole.core_labels == (1,) and whole.flair_labels == (2,)
    assert tp.lesions[3].measurement.long_mm == 12


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("lesions: [{id: L1, seed: {}}]", "lesions[0].seed", "exactly one of"),
        ("lesions: [{id: L1, seed: {point_mm: [1, 2]}}]", "lesions[0].seed.point_mm", "three numbers"),
        ("lesions: [{id: L1, seed: {point_mm: [1, 2, 3], box_mm: [[0,0,0],[1,1,1]]}}]", "lesions[0].seed", "exactly"),
        ("lesions: [{id: L1, seed: {box_mm: [[0, 0, 0], [1, 1, 0]]}}]", "lesions[0].seed.box_mm", "zero extent"),
        ("lesions: [{id: L1, seed: {point_voxel: [1, 2, 3], radius_mm: -1}}]", "seed.radius_mm", "too small"),
        ("lesions: [{id: L1, seed: {point_mm: [1, 2, 3], colour: red}}]", "seed.colour", "unknown key"),
        ("lesions: [{id: L1, mask: masks/none.nii.gz}]", "lesions[0].mask.path", "does not exist"),
        ("lesions: [{id: L1, mask: {path: masks/l1.nii.gz, label: 0}}]", "mask.label", "too small"),
        (
            "mask: {path: masks/l1.nii.gz, enhancing_labels: [1], core_labels: [1]}",
            "timepoints[0].mask",
            "two components",
        ),
    ],
)
def test_bad_seed_or_mask_names_the_field(tmp_path, body, field, message):
    with pytest.raises(InputError) as err:
        read_case_yaml(_case(tmp_path, body))
    assert field in str(err.value) and message in str(err.value)


def test_seed_without_images_is_refused(tmp_path):
    text = HEAD.replace("    images: scan/\n", "") + "    lesions: [{id: L1, seed: {point_mm: [0, 0, 0]}}]\n"
    (tmp_path / "case.yaml").write_text(text)
    with pytest.raises(InputError, match="no images"):
        read_case_yaml(tmp_path)
