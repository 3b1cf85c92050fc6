"""Every path in case.yaml stays inside the case folder (symlinks followed) unless a root is allowed."""

from __future__ import annotations

import textwrap

import pytest

from pseudoprog.errors import InputError
from pseudoprog.ingest import ingest_case

CASE = """
patient: {{id: P1}}
diagnosis: {{type: glioblastoma}}
{extra}
timepoints:
  - date: 2026-03-20
    images: {images}
"""


def _case(tmp_path, *, images: str = "t1/", extra: str = ""):
    case = tmp_path / "case"
    (case / "t1").mkdir(parents=True)
    (case / "case.yaml").write_text(textwrap.dedent(CASE.format(images=images, extra=extra)))
    return case


def test_rtdose_outside_the_case_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="outside the case folder") as err:
        ingest_case(_case(tmp_path, extra="rtdose: /etc/passwd"), read_images=False)
    assert err.value.field == "rtdose" and err.value.file is not None and err.value.file.endswith("case.yaml")


@pytest.mark.parametrize("images", ["/etc", "../", "t1/../../"])
def test_image_folder_outside_the_case_is_refused(tmp_path, images):
    with pytest.raises(InputError, match="outside the case folder") as err:
        ingest_case(_case(tmp_path, images=images))
    assert err.value.field is not None and err.value.field.endswith(".images")


def test_a_symlink_out_of_the_case_is_followed_and_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    case = _case(tmp_path, images="linked/")
    (case / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="outside the case folder"):
        ingest_case(case, read_images=False)
    ingest_case(case, read_images=False, allow_roots=[outside])  # an explicit root is accepted


def test_paths_inside_the_case_are_fine(tmp_path):
    ingest_case(_case(tmp_path), read_images=False)
