"""A light DICOM phantom case (structural series only, a coarse grid), built once for the hardening tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def light_dicom_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pseudoprog.phantoms.anatomy import Grid
    from pseudoprog.phantoms.patient import write_synthetic_case

    folder = tmp_path_factory.mktemp("light") / "case"
    return write_synthetic_case(
        folder, fmt="dicom", sequences=("structural",), grid=Grid(shape=(48, 56, 20), spacing_mm=(4.0, 4.0, 7.0))
    )


@pytest.fixture
def light_case_copy(light_dicom_case: Path, tmp_path: Path) -> Path:
    """A private copy of the light case that a test may change."""
    return Path(shutil.copytree(light_dicom_case, tmp_path / "case"))


@pytest.fixture(scope="session")
def light_assessed(light_dicom_case: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The light case assessed without de-identification (its output folder, not to be changed)."""
    from pseudoprog.flow import assess

    out = tmp_path_factory.mktemp("light-assessed") / "out"
    assess(light_dicom_case, out)
    return out
