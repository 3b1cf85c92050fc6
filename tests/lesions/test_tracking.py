"""Lesion matching over time: continued, new, disappeared, reappeared, split, merged."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pseudoprog.lesions.tracking import Tracker

SHAPE = (60, 60, 20)
D = [dt.date(2026, 1, 1) + dt.timedelta(days=60 * i) for i in range(5)]


def blob(x: int, y: int, r: int = 3) -> np.ndarray:
    m = np.zeros(SHAPE, dtype=bool)
    m[x - r : x + r, y - r : y + r, 8:12] = True
    return m


def kinds(tracker: Tracker, date: dt.date) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(e.kind, e.lesion_id, e.related) for e in tracker.events if e.date == date]


def test_continued_and_new_lesions():
    t = Tracker((1.0, 1.0, 2.0))
    assert t.add(D[0], [blob(15, 15, 5), blob(45, 45)]) == [("L1", False), ("L2", False)]
    # Slightly moved (within the 5 mm matching margin), plus a new lesion elsewhere.
    assert t.add(D[1], [blob(17, 16, 5), blob(45, 44), blob(15, 45)]) == [("L1", False), ("L2", False), ("L3", True)]
    assert kinds(t, D[1]) == [("new", "L3", ())]


def test_disappeared_then_reappeared_keeps_its_id():
    t = Tracker((1.0, 1.0, 2.0))
    t.add(D[0], [blob(15, 15), blob(45, 45)])
    assert t.add(D[1], [blob(15, 15)]) == [("L1", False)]
    assert kinds(t, D[1]) == [("disappeared", "L2", ())]
    assert t.add(D[2], [blob(15, 15), blob(45, 46)]) == [("L1", False), ("L2", False)]
    assert kinds(t, D[2]) == [("reappeared", "L2", ())]


def test_a_lesion_a_reader_pointed_at_but_not_measured_is_not_disappeared():
    t = Tracker((1.0, 1.0, 2.0))
    t.add(D[0], [blob(15, 15), blob(45, 45)])
    assert t.add(D[1], [blob(15, 15)], unmeasured={"L2"}) == [("L1", False)]  # L2's seed was refused
    assert kinds(t, D[1]) == []
    t.add(D[2], [blob(15, 15)])  # no word about L2 now: gone
    assert kinds(t, D[2]) == [("disappeared", "L2", ())]


def test_split_fragments_are_not_new_and_merged_tracks_are_recorded():
    t = Tracker((1.0, 1.0, 2.0))
    t.add(D[0], [blob(30, 30, 10)])
    ids = t.add(D[1], [blob(24, 30, 3), blob(36, 30, 4)])
    assert ids == [("L1.2", False), ("L1", False)]  # the larger fragment keeps the id
    assert kinds(t, D[1]) == [("split", "L1", ("L1.2",))]
    merged = t.add(D[2], [blob(30, 30, 9)])
    assert merged == [("L1", False)]
    assert ("merged", "L1", ("L1.2",)) in kinds(t, D[2])


def test_ids_given_by_seeds_are_kept():
    t = Tracker((1.0, 1.0, 2.0))
    assert t.add(D[0], [blob(15, 15)], ["T-left"]) == [("T-left", False)]
    assert t.add(D[1], [blob(15, 15), blob(45, 45)], ["T-left", None]) == [("T-left", False), ("L1", True)]


def test_within_mm_is_the_whole_array_distance_transform() -> None:
    """The tracker's and the segmentation's 'within r mm of the lesion' are computed on the lesion's box grown by
    the reach; the answer is the whole array's, on any spacing, near the border or not, for an empty mask too. A
    distance within align.mm's 1 µm of the reach counts as on it (with 0.9 mm pixels a distance of 15 mm computes
    as 15.000000000000002)."""
    import numpy as np
    from scipy import ndimage

    from pseudoprog.align.mm import MM_TOLERANCE
    from pseudoprog.lesions.segment import within_mm

    rng = np.random.default_rng(3)
    for trial in range(60):
        shape = tuple(int(n) for n in rng.integers(8, 40, 3))
        spacing = tuple(float(s) for s in rng.choice([0.5, 0.9, 1.0, 1.5, 3.0, 5.0], 3))
        mask = np.zeros(shape, dtype=bool)
        for _ in range(int(rng.integers(0 if trial == 0 else 1, 4))):
            c = [int(rng.integers(0, n)) for n in shape]
            r = [int(rng.integers(0, 4)) for _ in shape]
            mask[tuple(slice(max(a - b, 0), a + b + 1) for a, b in zip(c, r, strict=True))] = True
        reach = float(rng.choice([0.0, 1.0, 2.5, 5.0, 10.0, 15.0]))
        expected = ndimage.distance_transform_edt(~mask, sampling=spacing) <= reach + MM_TOLERANCE
        assert np.array_equal(within_mm(mask, reach, spacing), expected), (shape, spacing, reach)
