"""warp onto the moving image's own grid through an exact identity copies the voxels (issue 19) — the same values
resampling gives, without the resampling; anything short of an exact identity is still resampled."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.align import warp
from pseudoprog.align.warp import _resample
from pseudoprog.case import Volume


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
def test_identity_onto_its_own_grid_is_the_data_as_resampling_gives_it(interpolation) -> None:
    rng = np.random.default_rng(1)
    affine = np.diag([0.9, 1.1, 3.0, 1.0])
    affine[:3, 3] = [-40.5, 12.25, 7.0]
    data = np.asfortranarray(rng.normal(100, 30, (9, 11, 7)).astype(np.float32))
    vol = Volume(data, affine)
    out = warp(vol, None, vol, interpolation=interpolation, fill=-1.0)
    order = 0 if interpolation == "nearest" else 1
    assert np.array_equal(out.data, _resample(data, np.eye(4), data.shape, order=order, fill=-1.0))
    assert np.array_equal(out.data, data) and out.data.flags.c_contiguous and out.data is not data


def test_non_finite_data_and_a_near_identity_are_resampled(monkeypatch) -> None:
    import importlib

    warp_module = importlib.import_module("pseudoprog.align.warp")  # the module, not the function it exports
    calls = []
    real = warp_module._resample
    monkeypatch.setattr(warp_module, "_resample", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = np.ones((4, 4, 4), dtype=np.float32)
    data[1, 1, 1] = np.nan
    vol = Volume(data, np.eye(4))
    warp(vol, None, vol)  # linear: a NaN spreads through its weight 0, as resampling does
    near = np.eye(4)
    near[0, 3] = 1e-9
    warp(Volume(np.ones((4, 4, 4), np.float32), np.eye(4)), near, Volume(np.ones((4, 4, 4)), np.eye(4)))
    assert len(calls) == 2
    warp(vol, None, vol, interpolation="nearest")  # nearest copies whatever the values
    assert len(calls) == 2
