"""PET test fixtures: the phantom written as DICOM once per session, and a matching synthetic T1c."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pseudoprog.case import Volume


def synthetic_t1c(spacing: float = 3.0, shape: tuple[int, int, int] = (64, 72, 48)) -> tuple[Volume, np.ndarray]:
    """A T1c-like volume of the phantom head (scalp bright, brain grey, ventricles dark, lesion enhancing)
    and the lesion mask on its grid. Same world space and lesion as :func:`make_pet_phantom`'s defaults."""
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = [-(n - 1) * spacing / 2 for n in shape]
    ii, jj, kk = np.indices(shape, dtype=float)
    x, y, z = aff[0, 0] * ii + aff[0, 3], aff[1, 1] * jj + aff[1, 3], aff[2, 2] * kk + aff[2, 3]
    brain = (x / 68) ** 2 + (y / 88) ** 2 + (z / 58) ** 2 <= 1
    head = (x / 78) ** 2 + (y / 98) ** 2 + (z / 68) ** 2 <= 1
    lesion = ((x - 35) ** 2 + (y - 10) ** 2 + (z - 6) ** 2 <= 12.0**2) & brain
    t1 = np.where(head, 900.0, 0.0)
    t1[brain] = 600.0
    t1[(x / 25) ** 2 + (y / 35) ** 2 + (z / 18) ** 2 <= 1] = 250.0
    t1[lesion] = 1100.0
    return Volume(t1.astype(np.float32), aff), lesion


@pytest.fixture(scope="session")
def pet_dicom(tmp_path_factory: pytest.TempPathFactory):
    """(phantom, folder holding the PET series) for the default FET phantom, noise free."""
    from pseudoprog.phantoms.pet import make_pet_phantom, write_pet_dicom

    phantom = make_pet_phantom()
    folder = write_pet_dicom(phantom, tmp_path_factory.mktemp("pet") / "img" / "pet")
    return phantom, Path(folder)
