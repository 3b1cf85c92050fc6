"""The same head stored with its grid axes in another order (a sagittal or coronal series, a NIfTI written in another
axis order) gives the same lesions and the same diameters (issue 13, l19-invariance; the brain mask and a real scan:
tests/validation/test_lesions_invariance.py).

The slice-by-slice rules (per-slice hulls and hole filling, the thick-slice levelling, the brain mask's per-slice
disks) work on the grid's third axis; ``pseudoprog.align.axes`` moves the slice axis last before them and the result
back. Without it, the thick-slice phantom of test_segment_levelled_pass.py stored slice axis first is levelled along
the wrong axis and its lesion is missed.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.align.axes import inverse_order, permute_affine, slice_axis, slices_last
from pseudoprog.lesions.segment import seed_from_voxels, segment_lesions

from .helpers import dice
from .test_segment_levelled_pass import _head


def _stored(a: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(a, order))


@pytest.mark.parametrize("order", [(2, 0, 1), (1, 2, 0), (0, 2, 1)])
def test_a_thick_slice_head_stored_in_another_axis_order_gives_the_same_automatic_lesion(order):
    h = _head()
    plain, _ = segment_lesions(h["t1c"], h["brain"], h["affine"])
    moved, notes = segment_lesions(
        _stored(h["t1c"], order), _stored(h["brain"], order), permute_affine(h["affine"], order)
    )
    assert len(plain) == 1 and len(moved) == 1, notes
    back = np.transpose(moved[0].enhancing, inverse_order(order))
    assert np.array_equal(back, plain[0].enhancing)
    assert np.array_equal(np.transpose(moved[0].core, inverse_order(order)), plain[0].core)
    assert dice(back, h["lesion"]) >= 0.8


def test_a_seeded_lesion_does_not_depend_on_the_axis_order():
    h = _head()
    centroid = tuple(float(v) for v in np.argwhere(h["lesion"]).mean(axis=0))
    seed = seed_from_voxels("L1", h["affine"], point=centroid)  # world mm: the same point on either grid
    plain, _ = segment_lesions(h["t1c"], h["brain"], h["affine"], seeds=(seed,))
    order = (2, 0, 1)
    moved, _ = segment_lesions(
        _stored(h["t1c"], order), _stored(h["brain"], order), permute_affine(h["affine"], order), seeds=(seed,)
    )
    assert np.array_equal(np.transpose(moved[0].enhancing, inverse_order(order)), plain[0].enhancing)


def test_the_slice_axis_is_the_thick_one_else_the_one_nearest_superior_inferior():
    assert slice_axis(np.diag([1.0, 1.0, 5.0, 1.0])) == 2
    assert slice_axis(np.diag([5.0, 0.9, 0.9, 1.0])) == 0  # thick sagittal slices
    # Isotropic sagittal storage (i = anterior-posterior, j = superior-inferior, k = left-right): axial planes.
    sag = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1.0]])
    assert slice_axis(sag) == 1
    assert slices_last(sag) == (0, 2, 1)
    assert slices_last(np.diag([1.0, 1.0, 1.0, 1.0])) == (0, 1, 2)
    assert inverse_order((2, 0, 1)) == (1, 2, 0)
    a = np.diag([1.0, 2.0, 3.0, 1.0])
    a[:3, 3] = (4.0, 5.0, 6.0)
    p = permute_affine(a, (2, 0, 1))
    # voxel (k, i, j) of the stored array is voxel (i, j, k) of the original: the same world position
    assert np.allclose(p @ [7.0, 1.0, 2.0, 1.0], a @ [1.0, 2.0, 7.0, 1.0])


def test_a_lesion_stored_in_another_axis_order_measures_the_same():
    # In-plane voxels 0.7 x 1.0 mm: resliced onto a 0.7 mm axial grid, the mask would be resampled and its diameters
    # would change; moved, it keeps its voxels.
    from pseudoprog.lesions.measure import measure_lesion

    from .helpers import ellipsoid_mask

    les, affine = ellipsoid_mask((60, 60, 16), (0.7, 1.0, 3.0), (21.0, 30.0, 24.0), (17.0, 9.0, 10.0), angle_deg=30.0)
    plain, _ = measure_lesion(les, affine)
    for order in ((2, 0, 1), (1, 2, 0)):
        moved, _ = measure_lesion(_stored(les, order), permute_affine(affine, order))
        assert (moved.long_mm, moved.perp_mm) == (plain.long_mm, plain.perp_mm)


def test_the_mid_sagittal_plane_does_not_depend_on_how_the_grid_is_stored():
    # A head turned 6 degrees, its right half a little larger: the plane is scored on the mask sampled on a lattice
    # fixed in world space, so the same head stored flipped or with its axes in another order gives the same plane
    # (on main, a stride through the stored voxels: the plane moved with the storage; l20-plane).
    from pseudoprog.lesions.segment import mid_sagittal_plane

    from .helpers import ellipsoid_mask

    brain, affine = ellipsoid_mask((96, 110, 40), (1.0, 1.0, 2.5), (47.0, 55.0, 50.0), (36.0, 48.0, 40.0), angle_deg=6)
    brain |= ellipsoid_mask((96, 110, 40), (1.0, 1.0, 2.5), (40.0, 60.0, 50.0), (30.0, 40.0, 35.0))[0]
    normal, offset = mid_sagittal_plane(brain, affine)
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1.0, brain.shape[0] - 1
    for stored, aff in (
        (np.ascontiguousarray(brain[::-1]), affine @ flip),
        (_stored(brain, (2, 0, 1)), permute_affine(affine, (2, 0, 1))),
        (_stored(brain, (1, 0, 2)), permute_affine(affine, (1, 0, 2))),
    ):
        n2, o2 = mid_sagittal_plane(stored, aff)
        assert np.allclose(n2, normal) and abs(o2 - offset) < 1e-6


def test_an_imported_mask_stored_in_another_axis_order_gets_the_same_core():
    # A rim open at both ends along the slices (a tube): only the per-slice fill finds its core, on the slice axis.
    from pseudoprog.lesions.segment import core_of

    from .helpers import ellipsoid_mask

    outer, affine = ellipsoid_mask((40, 40, 10), (1.0, 1.0, 4.0), (20.0, 20.0, 18.0), (12.0, 12.0, 99.0))
    inner = ellipsoid_mask((40, 40, 10), (1.0, 1.0, 4.0), (20.0, 20.0, 18.0), (8.0, 8.0, 99.0))[0]
    rim = outer & ~inner
    plain = core_of(rim, affine=affine)
    assert np.array_equal(plain, inner)
    order = (2, 0, 1)
    moved = core_of(_stored(rim, order), affine=permute_affine(affine, order))
    assert np.array_equal(np.transpose(moved, inverse_order(order)), plain)
    # What the import did before (no affine): the per-slice fill ran across the tube, which has no hole there.
    assert not core_of(_stored(rim, order)).any()
