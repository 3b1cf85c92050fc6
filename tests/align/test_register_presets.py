"""align.register: presets recover known poses, options are validated, and a registration does no harm.

Do no harm (issue 13): aligned series of one session are not moved (identity kept, metric recorded); a
registration that does not improve the metric is rejected; PET and TRAM given a transform do not register again.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import pseudoprog.align.registration as registration_module
from pseudoprog.align import Grid, Registration, coarsen, register, warp
from pseudoprog.case import LesionMask, Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.phantoms.pet import make_pet_phantom
from tests.pet.conftest import synthetic_t1c


def _rotation(angles_deg: list[float], shift_mm: list[float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()
    m[:3, 3] = shift_mm
    return m


def test_pet_preset_recovers_rotation_and_shift() -> None:
    t1c, _ = synthetic_t1c(spacing=4.0, shape=(48, 54, 36))
    pet = make_pet_phantom(shape=(48, 54, 36), voxel_mm=4.0)
    truth = _rotation([3.0, -2.0, 4.0], [5.0, -4.0, 3.0])
    moved = Volume(pet.suv.astype(np.float32), truth @ pet.affine)
    result = register(t1c, moved, kind="rigid", preset="pet")
    assert result.accepted and result.kind == "rigid" and result.preset == "pet"
    assert result.metric_after < result.metric_before  # accepted because it improved the match
    # Target registration error at the lesion (what TBR depends on) under half a 4 mm voxel; the head
    # phantom is nearly ellipsoidal, so rotation is only loosely constrained: within 2°.
    lesion_centre = np.array([35.0, 10.0, 6.0, 1.0])
    tre = np.linalg.norm((result.fixed_to_moving - truth) @ lesion_centre)
    assert tre < 2.0
    residual = result.fixed_to_moving[:3, :3] @ truth[:3, :3].T
    assert np.degrees(np.arccos(np.clip((np.trace(residual) - 1) / 2, -1, 1))) < 2.0
    back = warp(moved, result, t1c).data
    inside = pet.brain & ~np.isclose(pet.suv, 0.3)
    assert np.median(np.abs(back[inside] - pet.suv[inside])) < 0.05


def test_invalid_options() -> None:
    vol, _ = synthetic_t1c(spacing=8.0, shape=(12, 12, 12))
    with pytest.raises(ValueError, match="preset"):
        register(vol, vol, preset="bspline-brain")
    with pytest.raises(ValueError, match="kind"):
        register(vol, vol, kind="bspline")
    with pytest.raises(ValueError, match="3D"):
        register(Volume(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), vol)
    with pytest.raises(ValueError, match="interpolation"):
        warp(vol, None, vol, interpolation="sinc")
    with pytest.raises(TypeError):
        register(vol, vol, "affine")  # type: ignore[misc]  # options are keyword-only


def test_coarsen_keeps_world_position_and_mean() -> None:
    t1c, _ = synthetic_t1c(spacing=1.5, shape=(40, 40, 40))
    small = coarsen(t1c, 3.0)
    assert small.spacing_mm == pytest.approx((3.0, 3.0, 3.0))
    assert small.spatial_shape == (20, 20, 20)
    # The grid covers the same world box: first voxel centre half an old voxel inside the old first centre.
    assert small.affine[:3, 3] == pytest.approx(t1c.affine[:3, 3] + 0.75)
    assert float(small.data.mean()) == pytest.approx(float(t1c.data.mean()), rel=0.03)
    assert coarsen(t1c, 1.6) is t1c  # not worth it
    with pytest.raises(ValueError, match="spacing_mm"):
        coarsen(t1c, 0.0)


def test_failure_is_a_reason_not_a_crash() -> None:
    rng = np.random.default_rng(0)
    tiny = Volume(rng.random((3, 3, 3)).astype(np.float32), np.eye(4))  # too small for any pyramid level
    with pytest.raises(CannotAssessError, match="registration failed"):
        register(tiny, tiny, preset="pet")


# --- do no harm ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def same_session() -> tuple[Volume, Volume]:
    """A T1c and a 'FLAIR' of one session on the same grid, in register (different contrast, own noise)."""
    t1c, _ = synthetic_t1c(spacing=2.0, shape=(80, 96, 64))
    rng = np.random.default_rng(3)
    d = t1c.data
    flair = np.where(d == 250.0, 100.0, np.where(d == 1100.0, 900.0, np.where(d == 600.0, 500.0, d * 0.3)))
    flair = flair + rng.normal(0, 10, d.shape)
    return t1c, Volume(flair.astype(np.float32), t1c.affine.copy())


def test_aligned_same_session_series_are_not_moved(same_session, monkeypatch) -> None:
    t1c, flair = same_session

    def no_optimiser(*_a, **_k):
        raise AssertionError("aligned series of one session must not be registered")

    monkeypatch.setattr(registration_module, "_optimise", no_optimiser)
    reg = register(t1c, flair, preset="structural", same_frame_of_reference=True, labels=("T1c", "FLAIR"))
    assert reg.kind == "identity" and not reg.accepted and not reg.optimised
    assert np.array_equal(reg.fixed_to_moving, np.eye(4))
    assert np.isfinite(reg.metric_before) and reg.metric_after == reg.metric_before  # metric recorded
    assert "not registered" in reg.reason
    d = reg.to_dict()
    assert d["metric_before"] == pytest.approx(reg.metric_before) and d["accepted"] is False


def test_same_session_series_that_moved_are_registered(same_session) -> None:
    t1c, flair = same_session
    # The head moved 6 mm between the series, but the header (same frame, same grid) does not say so.
    data = np.roll(flair.data, 3, axis=0)
    reg = register(t1c, Volume(data, flair.affine), preset="structural", same_frame_of_reference=True)
    assert reg.accepted and reg.optimised and reg.kind == "rigid"
    assert reg.metric_after < reg.metric_before
    assert reg.translation_mm[0] == pytest.approx(6.0, abs=1.0)  # fixed voxel i is moving voxel i + 3


def test_a_registration_that_worsens_the_metric_is_rejected(same_session, monkeypatch) -> None:
    t1c, flair = same_session
    import SimpleITK as sitk

    def bad_optimiser(work, initial, p, *, learning):
        return sitk.TranslationTransform(3, [7.0, -5.0, 3.0])  # an optimiser that lost its way

    monkeypatch.setattr(registration_module, "_optimise", bad_optimiser)
    reg = register(t1c, flair, preset="structural")
    assert not reg.accepted and reg.optimised and reg.kind == "identity"
    assert np.array_equal(reg.fixed_to_moving, np.eye(4))
    assert np.isfinite(reg.metric_before) and "did not improve" in reg.reason


def test_pet_given_a_transform_is_not_registered_again(monkeypatch) -> None:
    import pseudoprog.pet.lesion as pet_lesion
    from pseudoprog.ingest.pet import SuvParameters

    def no_registration(*_a, **_k):
        raise AssertionError("the PET was registered again")

    monkeypatch.setattr(pet_lesion, "register", no_registration)
    monkeypatch.setattr(registration_module, "_optimise", no_registration)
    phantom = make_pet_phantom(shape=(48, 54, 36), voxel_mm=4.0)
    truth = _rotation([2.0, -3.0, 4.0], [4.0, -3.0, 2.0])
    moved = Volume((phantom.suv / 1e-3).astype(np.float32), truth @ phantom.affine)  # Bq/ml, SUV = 1e-3 × value
    params = SuvParameters(1e-3, "FET", "amino_acid", "FET", "F-18", 6586.2, 2e8, 72.0, *([_dt()] * 2), "START", 1800.0)
    t1c, lesion = synthetic_t1c(spacing=2.0, shape=(96, 108, 72))
    given = Registration(truth, "rigid", "pet", -0.5, -0.8, True, "", "T1c", "PET")
    out = pet_lesion.assess_pet(moved, params, [LesionMask("L1", lesion, t1c.affine)], t1c=t1c, t1c_transform=given)
    markers = {m.name: m for m in out.markers}
    assert out.registration is given and out.registration_reused
    assert markers["pet_tbr_max"].quality["registration_reused"] is True
    assert markers["pet_tbr_max"].value == pytest.approx(phantom.tbr, rel=0.02)
    # Without the transform the same call would register (and here fail loudly).
    with pytest.raises(AssertionError, match="registered again"):
        pet_lesion.assess_pet(moved, params, [LesionMask("L1", lesion, t1c.affine)], t1c=t1c)


def test_tram_given_a_transform_is_not_registered_again(monkeypatch) -> None:
    import pseudoprog.perfusion.tram as tram

    def no_registration(*_a, **_k):
        raise AssertionError("TRAM registered again")

    monkeypatch.setattr(tram, "register", no_registration)
    t1c, _ = synthetic_t1c(spacing=3.0, shape=(64, 72, 48))
    truth = _rotation([0.0, 0.0, 4.0], [3.0, -2.0, 0.0])
    delayed = Volume(t1c.data.copy(), truth @ t1c.affine)  # the head moved by `truth` between the scans
    given = Registration(truth, "rigid", "tram", accepted=True)
    res = tram.compute_tram(t1c, delayed, delay_min=75.0, t1c_transform=given)
    assert res.parameters["registration"]["method"].startswith("transform given")
    inner = t1c.data > 0
    inner &= np.roll(inner, 3, 0) & np.roll(inner, -3, 0) & np.roll(inner, 3, 1) & np.roll(inner, -3, 1)
    assert np.mean(np.abs(res.delayed_registered[inner] - t1c.data[inner]) > 50.0) < 0.01
    unregistered = warp(delayed, None, Grid.of(t1c)).data  # what ignoring the motion would give
    assert np.mean(np.abs(unregistered[inner] - t1c.data[inner]) > 50.0) > 0.05


def _dt():
    import datetime as dt

    return dt.datetime(2026, 3, 2, 10, 0, 0)
