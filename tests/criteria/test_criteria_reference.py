"""The criteria engine gives exactly the recorded calls (data/reference_calls.json, data/reference_random.json.gz).

Every scenario and 120 fixed random timelines, every criterion by its own and its other methods,
RANO 2.0 with confirmation after the window and RANO with the marginal zone counted inside: the whole
``to_response_call`` record (per-timepoint categories, reasons, flags, references, percent changes,
confirmation, progression date, explanations) must match. Recorded by ``make_reference.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from .make_reference import REFERENCE, REFERENCE_RANDOM, compute, load_reference

ENTRIES = load_reference(REFERENCE) + load_reference(REFERENCE_RANDOM)


def test_reference_covers_every_scenario() -> None:
    from .criteria_helpers import load_scenarios

    recorded = {e["id"] for e in ENTRIES}
    assert {entry["id"] for entry, _ in load_scenarios()} <= recorded
    assert sum(e["id"].startswith("random-") for e in ENTRIES) == 120


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_calls_match_reference(entry: dict[str, Any]) -> None:
    got = compute(entry["case"])
    want = entry["runs"]
    assert sorted(got) == sorted(want)
    for run in want:
        assert got[run] == want[run], f"{entry['id']}: {run} differs from the recorded call"
