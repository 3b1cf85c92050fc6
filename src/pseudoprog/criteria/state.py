"""The state passed between the steps of one criterion's walk over a case's timeline.

:class:`Run` holds what is fixed for the whole walk (the criterion, its thresholds, the baseline);
:class:`WalkState` what carries from scan to scan (nadir, pending progression, response clocks);
:class:`Scan` the follow-up scan being called — its clocks, and the explanation, flags and call
fields the steps add to it in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..case import Case, Lesion, Timepoint, Treatment
from .policy import Policy, cite
from .rules import CriteriaTable, CriterionTable, Thresholds
from .timeline import Category, Confirmation, TimepointCall, last_radiation
from .windows import in_window, window_info


@dataclass
class Trigger:
    """One finding that meets a progression criterion at a scan."""

    kind: str  # size | new_lesion | nontarget | flair | clinical
    text: str
    outside_field: bool = False
    backdate: dt.date | None = None


@dataclass
class Pending:
    """A preliminary or unconfirmed progression awaiting its confirmation scan."""

    index: int
    date: dt.date
    value: float | None
    category: Category
    kinds: tuple[str, ...]
    new_ids: tuple[str, ...]


@dataclass
class WalkState:
    """What carries from one scan to the next within a criterion's walk."""

    targets: tuple[str, ...] = ()
    nontargets: tuple[str, ...] = ()
    reference_ids: set[str] = field(default_factory=set)
    nadir_start: int = 0
    values: dict[int, float] = field(default_factory=dict)
    other_values: dict[int, float] = field(default_factory=dict)
    pending_pd: Pending | None = None
    response_since: dt.date | None = None
    cr_since: dt.date | None = None
    equivocal_since: dict[str, dt.date] = field(default_factory=dict)
    nonmeasurable_new: set[str] = field(default_factory=set)
    steroid_increase: dt.date | None = None
    progression: dt.date | None = None  # date PD was established (back-dated where the criterion says so)
    progression_seen: dt.date | None = None  # the scan at which PD was established
    window_call: int | None = None  # the last "PD not allowed: within window" scan awaiting its outcome

    def record(self, i: int, value: float | None, other: float | None) -> None:
        """Keep a scan's burdens (by the driving and the other method) as nadir candidates."""
        if value is not None:
            self.values[i] = value
        if other is not None:
            self.other_values[i] = other


@dataclass(frozen=True)
class Run:
    """One criterion applied to one case: what every follow-up call of the walk uses."""

    case: Case
    scans: Sequence[tuple[Timepoint, tuple[Lesion, ...]]]
    policy: Policy
    tab: CriteriaTable
    crit: CriterionTable
    method: str
    thr: Thresholds
    other_method: str
    other_thr: Thresholds | None
    marginal_outside: bool  # a lesion at the 50–80 % isodose edge counts as outside the 80 % line
    b: int  # the baseline scan
    pd_ref: int  # the scan from which the progression nadir counts

    @property
    def src(self) -> str:
        """The citation of the driving thresholds."""
        return self.tab.cite(self.thr.source) + f" [{self.thr.status}]"


@dataclass
class Scan:
    """The follow-up scan being called, and what the steps have said about it so far."""

    run: Run
    i: int
    rt: Treatment | None  # the last radiation course before the scan
    weeks_rt: float | None
    win_weeks: float | None  # the criterion's pseudoprogression window
    rt_window: bool  # inside the post-radiotherapy window (gliomas)
    window: dict[str, Any]
    in_window: bool | None
    ex: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    retro: dict[int, str] = field(default_factory=dict)  # earlier scans' in_retrospect, by index
    fields: dict[str, Any] = field(default_factory=dict)  # burden, references and triggers of the call

    @classmethod
    def at(cls, run: Run, i: int) -> Scan:
        date = run.scans[i][0].date
        rt = last_radiation(run.case, date)
        weeks_rt = None if rt is None else (date - rt.last_day).days / 7.0
        values = run.crit.values
        win = values["pseudoprogression_window_weeks"].value if "pseudoprogression_window_weeks" in values else None
        return cls(
            run=run,
            i=i,
            rt=rt,
            weeks_rt=weeks_rt,
            win_weeks=win,
            rt_window=bool(run.policy.glioma and weeks_rt is not None and win is not None and weeks_rt < win),
            window=window_info(run.case, date, run.policy, run.tab),
            in_window=in_window(run.case, date, run.policy, run.tab),
        )

    @property
    def tp(self) -> Timepoint:
        return self.run.scans[self.i][0]

    @property
    def les(self) -> tuple[Lesion, ...]:
        return self.run.scans[self.i][1]

    @property
    def date(self) -> dt.date:
        return self.tp.date

    @property
    def base_tp(self) -> Timepoint:
        return self.run.scans[self.run.b][0]

    @cached_property
    def by_id(self) -> dict[str, Lesion]:
        return {les.id: les for les in self.les}

    def make(self, category: Category, **kw: Any) -> TimepointCall:
        """The call at this scan with the explanation and flags so far."""
        return TimepointCall(
            date=self.date,
            category=category,
            role="follow-up",
            explanation=tuple(self.ex),
            window=self.window,
            within_pseudoprogression_window=self.in_window,
            flags=tuple(dict.fromkeys(self.flags)),
            **kw,
        )

    def established(
        self, st: WalkState, when: dt.date, conf: Confirmation, extra: Sequence[dt.date] = ()
    ) -> TimepointCall:
        """PD established at this scan, dated to the earliest of ``when``, ``extra`` and a steroid increase."""
        dates = [when, *extra]
        steroid_back = st.steroid_increase if self.run.policy.steroid_backdate else None
        if steroid_back is not None:
            dates.append(steroid_back)
            self.ex.append(
                f"progression dated to the first steroid increase on {steroid_back} "
                f"({cite('rano2_assist')} [V2], quoting RANO 2.0)"
            )
        pdate = min(dates)
        st.progression, st.progression_seen = pdate, self.date
        return self.make(Category.PD, confirmation=conf, progression_date=pdate, **self.fields)
