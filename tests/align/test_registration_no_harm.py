"""The issue's failure: a T1 of the same session, already in register with the T1c, was shifted onto it and
the T1c − T1 subtraction was corrupted. Same frame of reference and grid: the T1 is not moved and the
subtraction is the one of the images as acquired, voxel for voxel."""

from __future__ import annotations

import numpy as np

from pseudoprog.align import register, warp
from pseudoprog.case import Volume
from pseudoprog.phantoms.anatomy import BRAIN
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series


def test_t1_of_the_session_is_not_moved_and_the_subtraction_is_unchanged():
    sc = SCENARIOS["true_progression"]
    tp = build_timepoint(sc, sc.scans[0], seed=7)
    s = {x.name: Volume(x.data, x.affine) for x in structural_series(tp)}
    t1c, t1 = s["T1c"], s["T1"]
    assert t1c.spatial_shape == t1.spatial_shape and np.allclose(t1c.affine, t1.affine)
    brain = np.isin(tp.labels, [int(t) for t in BRAIN])
    reg = register(t1c, t1, fixed_mask=brain, same_frame_of_reference=True, labels=("T1c", "T1"))
    assert reg.kind == "identity" and not reg.optimised and reg.shift_mm == 0.0
    assert np.isfinite(reg.metric_before) and reg.metric_after == reg.metric_before
    on_t1c = warp(t1, reg, t1c)
    assert np.array_equal(t1c.data - on_t1c.data, t1c.data - np.asarray(t1.data, dtype=np.float32))
