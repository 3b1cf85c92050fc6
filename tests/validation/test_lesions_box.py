"""A reader's box on real scans (issue 13): the seed a reader draws round a lesion, never validated before.

The box is the reference's bounding box widened by 3 mm (a reader's box round what they see). Measured on every real
scan (benchmarks/RESULTS.md, "A reader's box on real scans"): Dice >= 0.75 on 17 of 26 (a point at the centroid:
15), nothing taken outside the box. Refused: ReMIND (its labelled tumour barely enhances), TCIA 06 Post (a reference
in two pieces: the lesion fills too little of the box for its 98th percentile) and 11 Post (a box across both frontal
lobes); the refusal says to draw the box close round one lesion or click it.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import Seed, core_of, segment_lesions

from .test_lesions_real_more import _dice, _load

pytestmark = pytest.mark.validation

MARGIN_MM = 3.0


def _box(ref: np.ndarray, affine: np.ndarray, margin_mm: float = MARGIN_MM) -> Seed:
    idx = np.argwhere(ref)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    corners = np.array([[a, b, c, 1.0] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    world = (corners @ affine.T)[:, :3]
    lo_mm, hi_mm = world.min(axis=0) - margin_mm, world.max(axis=0) + margin_mm
    return Seed("L1", box_mm=(tuple(float(v) for v in lo_mm), tuple(float(v) for v in hi_mm)))  # type: ignore[arg-type]


@functools.cache
def _boxed(name: str) -> tuple[list, list[str], np.ndarray, np.ndarray]:
    t1c, affine, ref, brain = _load(name)
    seed = _box(ref, affine)
    seeded, notes = segment_lesions(t1c, brain, affine, seeds=(seed,))
    return seeded, notes, ref, seed.region(affine, ref.shape)


@pytest.mark.parametrize("case", ["05/Pre", "11/Pre", "09/Post"])
def test_tcia_a_box_round_the_lesion_gives_its_mask_inside_the_box(case):
    seeded, notes, ref, box = _boxed(case)
    assert len(seeded) == 1, notes
    assert _dice(seeded[0].enhancing, ref) >= 0.75
    assert not (seeded[0].enhancing & ~box).any()


def test_tcia_08_post_a_box_takes_the_rim_past_the_brain_masks_edge_and_measures_like_a_click():
    # The box's reach was its brain voxels only, so the rim's lateral wall just past the raw-image brain mask (which a
    # click takes, _across_the_mask_edge) was cut off, the rim stayed open and RANO measured it without its core:
    # perpendicular 34.8 mm (a click: 46.0, the reference 47.2).
    seeded, _, ref, _ = _boxed("08/Post")
    _, affine, _, _ = _load("08/Post")
    ours, _ = measure_lesion(seeded[0].enhancing, affine, core=seeded[0].core)
    theirs, _ = measure_lesion(ref, affine, core=core_of(ref))
    assert ours.long_mm is not None and ours.perp_mm is not None
    assert abs(ours.long_mm - theirs.long_mm) <= max(0.15 * theirs.long_mm, 3.0)
    assert abs(ours.perp_mm - theirs.perp_mm) <= max(0.15 * theirs.perp_mm, 3.0)


@pytest.mark.parametrize("case", ["06/Post", "11/Post"])
def test_tcia_a_box_round_two_pieces_or_two_lesions_is_refused_with_what_to_do(case):
    # 06 Post: a reference in two pieces (2.6 local SDs at the box's 98th percentile); 11 Post: two lesions in opposite
    # frontal lobes with the plexus between (2.3). Judging them again on the box's structures was dropped: on 11 Post
    # it took tissue that was not the lesion.
    seeded, notes, _, _ = _boxed(case)
    assert seeded == []
    assert "draw the box close round one lesion, or click it" in " ".join(notes), notes
