"""An automatic target's completion ends at the dimmer rim, as the growth's bright part does (issue 13, l22-auto).

What the completion of an automatic target adds (the lesion's tissue across the brain mask's edge, the separate pieces
of its broken rim) is taken at the clear-enhancement bar (``rim_connected_sd``), while the growth's bright part is
taken with its dimmer rim (``rim_local_sd`` within ``rim_extension_mm``); a reader's growth takes that band round the
clearly enhancing tissue it adds too (``segment._with_dimmer_rim``). The completion now takes it round what it adds:
TCIA Brain-Tumor-Progression 01 Post automatic Dice 0.593 -> 0.609 (benchmarks/RESULTS.md, branch l22-auto).
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.lesions import segment
from pseudoprog.lesions.segment import segment_lesions

from .helpers import ellipsoid_mask
from .test_segment_pieces import CENTRE, SHAPE, SPACING
from .test_segment_pieces import _head as _broken_ring


def _with_margin() -> dict:
    """The broken ring of ``test_segment_pieces`` (a bright half, two dimmer pieces 4-5 mm from it, a vessel, a second
    lesion) with a 2 mm margin outside the two pieces (radii 20-22 mm) enhancing by 40: 2 noise SDs, above the dimmer
    rim's 1 local SD and under the clear-enhancement bar of 3, the partial-volume edge of a real rim."""
    h = _broken_ring()
    slab = ((np.arange(SHAPE[2]) >= 4) & (np.arange(SHAPE[2]) <= 7))[None, None, :]
    wide = ellipsoid_mask(SHAPE, SPACING, CENTRE, (22.0, 22.0, 99.0))[0] & slab
    outer = ellipsoid_mask(SHAPE, SPACING, CENTRE, (20.0, 20.0, 99.0))[0] & slab
    x = np.arange(SHAPE[0])[:, None, None] - CENTRE[0]
    y = np.arange(SHAPE[1])[None, :, None] - CENTRE[1]
    margin = wide & ~outer & (x < -2.5) & (np.abs(y) >= 2.5)
    h["t1c"][margin] += 40.0
    h["margin"] = margin
    return h


def _target(h: dict) -> np.ndarray:
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    ring = [les for les in lesions if (les.enhancing & h["bright"]).any()]
    assert len(ring) == 1, notes
    assert ring[0].method == "automatic"
    return ring[0].enhancing


def test_an_automatic_targets_pieces_are_taken_with_their_dimmer_rim():
    h = _with_margin()
    enh = _target(h)
    assert float(enh[h["pieces"]].mean()) >= 0.5
    assert float(enh[h["margin"]].mean()) >= 0.5  # measured 0.79; 0.01 on 97f2344 (pieces 0.74)
    assert not (enh & h["other"]).any()  # the second lesion, beyond piece_gap_mm, stays its own
    assert int((enh & h["line"]).sum()) <= 10  # the vessel: only where it touches the ring


def test_without_the_band_the_pieces_end_at_the_clear_enhancement_bar(monkeypatch: pytest.MonkeyPatch):
    # _with_dimmer_rim is the reader's growth's step 4 and the completion's band; automatic growth never calls it.
    monkeypatch.setattr(segment, "_with_dimmer_rim", lambda e, brain, lesion, *a, **k: lesion)
    h = _with_margin()
    enh = _target(h)
    assert float(enh[h["pieces"]].mean()) >= 0.5
    assert float(enh[h["margin"]].mean()) < 0.5
