"""The scenario table: every scenario's expected call per criterion (tests/criteria/scenarios/*.yaml)."""

from __future__ import annotations

import pytest

from pseudoprog.criteria import assess_all

from .criteria_helpers import build_case, iso, load_scenarios

SCENARIOS = load_scenarios()
_KEYS = (
    "expect",
    "expect_at",
    "expect_progression_date",
    "expect_flags",
    "expect_retro",
    "expect_volumetric",
    "expect_note",
)


def test_scenario_table_is_complete() -> None:
    ids = [s["id"] for s, _ in SCENARIOS]
    assert len(ids) >= 40, f"only {len(ids)} scenarios"
    assert len(ids) == len(set(ids)), "scenario ids must be unique"
    for entry, _ in SCENARIOS:
        assert entry.get("source"), f"{entry['id']}: every scenario names its source"
        assert entry.get("expect"), f"{entry['id']}: every scenario gives its expected calls"
        assert set(entry) - {"id", "source", "template", "scans", "diagnosis", "treatments"} <= set(_KEYS)


@pytest.mark.parametrize(("entry", "doc"), SCENARIOS, ids=[s["id"] for s, _ in SCENARIOS])
def test_scenario(entry: dict, doc: dict) -> None:
    case = build_case(doc)
    _, _, results = assess_all(case)
    problems = []
    for crit, want in entry["expect"].items():
        got = results[crit].category.value
        if got != want:
            problems.append(f"{crit}: expected {want!r}, got {got!r}")
    for date, calls in (entry.get("expect_at") or {}).items():
        for crit, want in calls.items():
            by_date = {c.date.isoformat(): c for c in results[crit].calls}
            got = by_date[iso(date)].category.value
            if got != want:
                problems.append(f"{crit} at {iso(date)}: expected {want!r}, got {got!r}")
    for crit, want in (entry.get("expect_progression_date") or {}).items():
        latest = results[crit].latest
        got = None if latest is None or latest.progression_date is None else latest.progression_date.isoformat()
        if got != iso(want):
            problems.append(f"{crit}: progression dated {got}, expected {iso(want)}")
    for crit, flags in (entry.get("expect_flags") or {}).items():
        latest = results[crit].latest
        for flag in flags:
            if latest is None or flag not in latest.flags:
                problems.append(f"{crit}: flag {flag!r} missing from {latest and latest.flags}")
    for crit, retro in (entry.get("expect_retro") or {}).items():
        by_date = {c.date.isoformat(): c for c in results[crit].calls}
        for date, text in retro.items():
            got = by_date[iso(date)].in_retrospect or ""
            if text not in got:
                problems.append(f"{crit} at {iso(date)}: in retrospect {got!r}, expected to contain {text!r}")
    for crit, want in (entry.get("expect_volumetric") or {}).items():
        latest = results[crit].latest
        got = latest.volumetric.get("size_category") if latest else None
        if got != want:
            problems.append(f"{crit}: volumetric size category {got!r}, expected {want!r}")
    for crit, text in (entry.get("expect_note") or {}).items():
        r = results[crit]
        blob = " ".join(r.notes) + " ".join(" ".join(c.explanation) for c in r.calls)
        if text not in blob:
            problems.append(f"{crit}: explanation lacks {text!r}")
    assert not problems, "\n".join(problems)
