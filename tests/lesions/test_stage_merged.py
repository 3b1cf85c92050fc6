"""Lesions that merge at a follow-up: the criteria can still call the scan (clinical_rules.md §1.1).

Found on TCIA Brain-Tumor-Progression 05: two targets at the first scan, one tumour at progression that holds both.
The tracker recorded "L2 merged into L1", the criteria saw target L2 "not measured at this scan" and could not
assess the scan of clinical progression. The merged lesion is measured once under the id it kept; the other id is
recorded as 0 (RECIST's convention for coalescent lesions, [UNVERIFIED] for RANO in the rules).
"""

from __future__ import annotations

import datetime as dt

from pseudoprog.case import Lesion, LesionMeasurement
from pseudoprog.criteria.timeline import burden
from pseudoprog.lesions.stage import _merged_away, event_warning
from pseudoprog.lesions.tracking import TrackEvent

DAY = dt.date(2019, 6, 1)
MERGED = TrackEvent(DAY, "merged", "L1", ("L2",))


def _measured(lid: str, long_mm: float, perp_mm: float) -> Lesion:
    return Lesion(lid, measurement=LesionMeasurement(long_mm=long_mm, perp_mm=perp_mm, measurable=True))


def test_a_target_merged_into_another_counts_zero_and_the_burden_is_the_merged_lesion():
    (gone,) = _merged_away([MERGED], DAY, {"L1"}, {})
    assert gone.id == "L2" and gone.measurement.bidimensional_product_mm2 == 0.0
    assert "merged into L1" in gone.measurement.measurability_reason
    b = burden((_measured("L1", 56.0, 52.75), gone), ("L1", "L2"), "bidimensional")
    assert b.missing == () and b.value == 56.0 * 52.75


def test_without_the_record_the_merged_target_is_missing():
    """What the criteria saw before: the scan cannot be assessed."""
    b = burden((_measured("L1", 56.0, 52.75),), ("L1", "L2"), "bidimensional")
    assert b.value is None and b.missing == ("L2",)


def test_a_merged_id_measured_or_reported_at_the_scan_is_left_alone_and_other_events_add_nothing():
    assert _merged_away([MERGED], DAY, {"L1", "L2"}, {}) == []
    assert _merged_away([MERGED], DAY, {"L1"}, {"L2": _measured("L2", 20.0, 10.0)}) == []
    assert _merged_away([MERGED], dt.date(2019, 1, 1), {"L1"}, {}) == []
    assert _merged_away([TrackEvent(DAY, "disappeared", "L2")], DAY, {"L1"}, {}) == []  # gone is not 0: a guess


def test_the_merge_warning_says_which_lesion_joined_which():
    text = event_warning(MERGED)
    assert "L2 merged into L1" in text and "recorded as 0" in text
