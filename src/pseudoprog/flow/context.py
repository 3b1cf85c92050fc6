"""What the runner accumulates while one case is assessed: the merged outputs of the stages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ..assessment import NotAssessed, Scope, TimepointResult
from ..case import Case, Lesion, LesionMask, Marker, Timepoint
from ..handoff import StageOutput, TimepointInputs, TimepointOutput, TypedMap

T = TypeVar("T")


@dataclass
class FlowContext:
    """The case, where outputs go, and everything the stages produced so far (per timepoint and case-level)."""

    case: Case
    out_dir: Path
    scope: Scope
    profile: Path | None = None
    warnings: list[str] = field(default_factory=list)
    not_assessed: list[NotAssessed] = field(default_factory=list)
    timepoints: dict[dt.date, TimepointOutput] = field(default_factory=dict)
    results: dict[type, list[Any]] = field(default_factory=dict)

    def skip(self, stage: str, reason: str, **kw: Any) -> None:
        self.not_assessed.append(NotAssessed(stage=stage, reason=reason, **kw))

    def merge(self, out: StageOutput) -> None:
        """Add a stage's output: maps, markers and warnings accumulate; lesions, masks and transforms replace."""
        for date, tp in out.timepoints.items():
            self.timepoints.setdefault(date, TimepointOutput()).extend(tp)
        self.not_assessed.extend(out.not_assessed)
        self.warnings.extend(out.warnings)
        for kind, value in out.results.items():
            self.results.setdefault(kind, []).append(value)

    def result(self, kind: type[T]) -> T | None:
        """The latest case-level result of a type (the criteria outcome, the evidence outcome ...)."""
        found = self.results.get(kind)
        return found[-1] if found else None

    def results_of(self, kind: type[T]) -> list[T]:
        return list(self.results.get(kind, []))

    def at(self, date: dt.date) -> TimepointOutput:
        return self.timepoints.get(date, TimepointOutput())

    def lesions(self) -> dict[dt.date, tuple[Lesion, ...]]:
        """Per timepoint: measured by the lesions stage, else as reported in case.yaml."""
        return {tp.date: _or(self.at(tp.date).lesions, tp.lesions) for tp in self.case.timepoints}

    def case_as_searched(self) -> Case:
        """The case with each timepoint saying whether its images were searched for new lesions (lesions stage).

        The criteria call no response or stable disease at a scan where only the known lesions were looked for,
        and the question does not call its lesion stable there.
        """
        why = {d: tp.new_lesions_not_searched for d, tp in self.timepoints.items() if tp.new_lesions_not_searched}
        if not why:
            return self.case
        timepoints = tuple(
            replace(tp, new_lesions_not_searched=why[tp.date]) if tp.date in why else tp for tp in self.case.timepoints
        )
        return replace(self.case, timepoints=timepoints)

    def markers(self) -> dict[dt.date, list[Marker]]:
        return {date: list(tp.markers) for date, tp in self.timepoints.items()}

    def masks(self) -> dict[dt.date, tuple[LesionMask, ...]]:
        return {date: tp.lesion_masks or () for date, tp in self.timepoints.items()}

    def maps(self) -> dict[dt.date, tuple[TypedMap, ...]]:
        return {date: tuple(tp.maps) for date, tp in self.timepoints.items()}

    def inputs(self, tp: Timepoint) -> TimepointInputs:
        """What a map builder receives: this timepoint's masks, transforms and the maps made so far."""
        at = self.at(tp.date)
        return TimepointInputs(tp, self.out_dir, at.lesion_masks or (), at.transforms, tuple(at.maps), at.midline)

    def timepoint_results(self) -> tuple[TimepointResult, ...]:
        return tuple(self.at(tp.date).result(tp) for tp in self.case.timepoints)


def _or(value: tuple[Lesion, ...] | None, default: tuple[Lesion, ...]) -> tuple[Lesion, ...]:
    return default if value is None else value
