"""The cohort's progress bar (rich): cases done, failed, reused, and the estimated time left."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class CohortProgress:
    """Context manager whose :meth:`update` is the ``progress`` callback of :func:`run_cohort`."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("cases"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}, reused {task.fields[reused]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._bar.add_task("cases", total=0, failed=0, reused=0)
        self._failed = self._reused = 0
        self._total = 0

    def __enter__(self) -> CohortProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.stop()

    def update(self, kind: str, marker: dict[str, Any] | None) -> None:
        if kind in ("start", "skip"):
            self._total += 1
            self._bar.update(self._task, total=self._total)
        if kind == "skip":
            self._reused += 1
            self._bar.update(self._task, advance=1, reused=self._reused)
        elif kind == "done":
            if marker and marker.get("status") != "ok":
                self._failed += 1
            self._bar.update(self._task, advance=1, failed=self._failed)
