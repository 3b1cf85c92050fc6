"""The baseline scan of a criterion: the current treatment line and the scan its calls are measured from.

clinical_rules.md §1.9 items 1-2, §6 C17: response is measured from the baseline, progression from the
nadir; RANO 2010 measures progression from the first post-radiotherapy scan, RANO 2.0 takes that scan as
the baseline, RANO-BM and iRANO the last scan before the current line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from ..case import Case, Treatment, TreatmentType
from .policy import Policy, cite
from .rules import CriterionTable, criteria_table

ADJUVANT_GAP_DAYS = 56  # [DERIVED] chemotherapy starting ≤ 8 weeks after radiotherapy ends continues that line


@dataclass(frozen=True)
class Line:
    """The current line of treatment: its first treatment and the radiation course in it (if any)."""

    first: Treatment
    radiation: Treatment | None
    treatments: tuple[Treatment, ...]


def current_line(case: Case, on: dt.date) -> Line | None:
    """The most recent treatment line begun on or before ``on``.

    A non-surgical treatment opens a new line unless it starts during a radiation course
    (concurrent) or is chemotherapy starting within 8 weeks of a radiation course's end
    (adjuvant) — an engineering rule, [DERIVED].
    """
    lines: list[list[Treatment]] = []
    for t in sorted(case.treatments, key=lambda t: t.start):
        if t.type in (TreatmentType.SURGERY, TreatmentType.BIOPSY) or t.start > on:
            continue
        if lines:
            rads = [x for x in lines[-1] if x.type.is_radiation]
            concurrent = any(r.start <= t.start <= r.last_day for r in rads)
            adjuvant = t.type is TreatmentType.CHEMOTHERAPY and any(
                0 <= (t.start - r.last_day).days <= ADJUVANT_GAP_DAYS for r in rads
            )
            if concurrent or adjuvant:
                lines[-1].append(t)
                continue
        lines.append([t])
    if not lines:
        return None
    ts = lines[-1]
    rads = [t for t in ts if t.type.is_radiation]
    return Line(first=ts[0], radiation=max(rads, key=lambda t: t.last_day) if rads else None, treatments=tuple(ts))


def choose_baseline(
    case: Case, dates: Sequence[dt.date], policy: Policy, table: CriterionTable
) -> tuple[int, int, list[str]]:
    """Index of the baseline scan, index from which the progression nadir counts, and the reasons."""
    line = current_line(case, dates[-1])
    if line is None:
        surgeries = [t.start for t in case.treatments if t.start <= dates[-1]]
        after = [i for i, d in enumerate(dates) if surgeries and d >= max(surgeries)]
        b = after[0] if after else 0
        return b, b, [f"baseline {dates[b]}: first scan after the last recorded treatment (no non-surgical line)"]
    post_rt = [i for i, d in enumerate(dates) if d >= line.radiation.last_day] if line.radiation is not None else []
    if policy.baseline == "post_radiotherapy" and post_rt:
        b = post_rt[0]
        return (
            b,
            b,
            [
                f"baseline {dates[b]}: first scan after radiotherapy ended "
                f"{line.radiation.last_day if line.radiation else ''}"
                f" — the post-radiotherapy scan is the baseline ({cite(policy.table)}; clinical_rules §1.4–1.5, §6 C17)"
            ],
        )
    b, notes = _line_baseline(dates, line, policy, table)
    pd_ref = b
    if policy.baseline == "rano2010" and line.radiation is not None and post_rt and post_rt[0] > b:
        pd_ref = post_rt[0]
        notes.append(
            f"progression is measured from the first post-radiotherapy scan {dates[pd_ref]} (or a later, smaller one) "
            f"({cite('wen2010_12w')} [V]); response from the baseline {dates[b]}"
        )
    return b, pd_ref, notes


def _line_baseline(
    dates: Sequence[dt.date], line: Line, policy: Policy, table: CriterionTable
) -> tuple[int, list[str]]:
    """The last scan on or before the line starts (else the first after it), with the RANO-BM age caution."""
    start = line.first.start
    pre = [i for i, d in enumerate(dates) if d <= start]
    after_start = [i for i, d in enumerate(dates) if d > start]
    what = f"{line.first.type.value} starting {start}"
    notes: list[str] = []
    if pre:
        b = pre[-1]
        notes.append(f"baseline {dates[b]}: last scan on or before the current line ({what})")
        if policy.baseline == "pre_treatment" and "baseline_max_days_before_treatment" in table.values:
            limit = table.value("baseline_max_days_before_treatment")
            gap = (start - dates[b]).days
            if gap > limit.value:
                notes.append(
                    f"caution: the baseline is {gap} days before treatment; RANO-BM asks for ≤ {limit.value:g} days "
                    f"({limit.cite(criteria_table().sources)})"
                )
    elif after_start:
        b = after_start[0]
        notes.append(f"baseline {dates[b]}: no scan before the current line ({what}); the first scan after it is used")
    else:
        b = 0
        notes.append(f"baseline {dates[0]}: first scan")
    return b, notes
