"""Which lesion at one visit is which at the next: matching after registration onto the baseline.

Masks of every timepoint are carried onto the baseline T1c grid; a lesion continues a *track*
when its mask, dilated by ``match_dilation_mm``, overlaps the track's last known mask (also
dilated). Then, explicitly:

- **continued**: one lesion ↔ one track, same id;
- **new**: a lesion meets no track; it gets the next free id ``L<n>`` and ``new = True`` (never at
  the first timepoint, where everything is the baseline, even when it has no lesion);
- **disappeared**: a track meets no lesion (recorded once; the track stays, so a lesion reappearing
  at the same place takes its old id and is reported as ``reappeared``);
- **split**: one track meets several lesions; the largest keeps the id, the others are ``<id>.2``,
  ``<id>.3`` … (not new: the fragments are summed, clinical_rules.md §1.1);
- **merged**: several tracks meet one lesion; it keeps the id of the track that was largest, the
  others are recorded as merged into it (their value is 0 thereafter).

Seeded lesions keep the id their seed gives; they are matched the same way for the events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from .rules import value
from .segment import within_mm


@dataclass(frozen=True)
class TrackEvent:
    date: dt.date
    kind: str  # "new" | "disappeared" | "reappeared" | "split" | "merged"
    lesion_id: str
    related: tuple[str, ...] = ()  # split: the fragments; merged: the tracks merged into lesion_id

    def to_dict(self) -> dict:
        return {
            "date": self.date.isoformat(),
            "kind": self.kind,
            "lesion_id": self.lesion_id,
            "related": list(self.related),
        }


@dataclass
class Tracker:
    """Assigns ids to lesions timepoint by timepoint (call :meth:`add` in date order).

    ``spacing_mm`` is the voxel size of the baseline grid on which all masks are given.
    """

    spacing_mm: tuple[float, float, float]
    tracks: dict[str, np.ndarray] = field(default_factory=dict)  # id → last mask (baseline grid)
    sizes: dict[str, int] = field(default_factory=dict)
    events: list[TrackEvent] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    dates: list[dt.date] = field(default_factory=list)  # the timepoints added so far
    _next: int = 1

    def _dilate(self, mask: np.ndarray) -> np.ndarray:
        return within_mm(mask, value("segmentation", "match_dilation_mm"), self.spacing_mm)

    def _new_id(self, taken: set[str]) -> str:
        while f"L{self._next}" in self.tracks or f"L{self._next}" in taken:
            self._next += 1
        lid = f"L{self._next}"
        self._next += 1
        return lid

    def _overlaps(self, masks: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        """The tracks and, per mask and track, the voxels shared once both are dilated (the matching rule)."""
        grown = [self._dilate(m) for m in masks]
        track_ids = list(self.tracks)
        grown_tracks = {t: self._dilate(self.tracks[t]) for t in track_ids}
        overlap = np.array(
            [[int(np.count_nonzero(g & grown_tracks[t])) for t in track_ids] for g in grown], dtype=float
        ).reshape(len(masks), len(track_ids))
        return track_ids, overlap

    def same_place(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether two masks (baseline grid) would be matched as one lesion: they overlap once both are dilated."""
        return bool((self._dilate(a) & self._dilate(b)).any())

    def unreached(self, masks: list[np.ndarray]) -> list[str]:
        """Tracks none of these masks (baseline grid) would match: those :meth:`add` would call disappeared."""
        track_ids, overlap = self._overlaps(masks)
        return [t for j, t in enumerate(track_ids) if not overlap[:, j].any()]

    def add(
        self,
        date: dt.date,
        masks: list[np.ndarray],
        given_ids: list[str | None] | None = None,
        unmeasured: Collection[str] = (),
    ) -> list[tuple[str, bool]]:
        """Ids (and whether each lesion is new) for the lesions of one timepoint, in the order given.

        ``unmeasured``: tracks a reader pointed at on this scan (a seed) whose segmentation was refused. Such a lesion
        is there by the reader's word and only not measured: it is not called disappeared.
        """
        # The first timepoint is the baseline; one with no lesion is a baseline too (everything later is new there).
        first = not self.dates
        self.dates.append(date)
        taken = {g for g in (given_ids or []) if g}
        given = given_ids or [None] * len(masks)
        if len(given) != len(masks):
            raise ValueError("given_ids must have one entry per mask")
        track_ids, overlap = self._overlaps(masks)
        assigned: list[str | None] = [None] * len(masks)
        for i in range(len(masks)):
            if overlap.shape[1] and overlap[i].max() > 0:
                assigned[i] = track_ids[int(np.argmax(overlap[i]))]
        out: list[tuple[str, bool]] = [("", False)] * len(masks)
        # Splits: several lesions on one track; the largest keeps the id.
        for t in track_ids:
            members = [i for i in range(len(masks)) if assigned[i] == t]
            if not members:
                continue
            members.sort(key=lambda i: -int(masks[i].sum()))
            out[members[0]] = (given[members[0]] or t, False)
            if len(members) > 1:
                frag_ids = []
                for n, i in enumerate(members[1:], start=2):
                    fid = given[i] or f"{t}.{n}"
                    out[i] = (fid, False)
                    frag_ids.append(fid)
                self.events.append(TrackEvent(date, "split", t, tuple(frag_ids)))
            if t in self.missing:
                self.events.append(TrackEvent(date, "reappeared", out[members[0]][0]))
                self.missing.discard(t)
        # New lesions.
        for i in range(len(masks)):
            if assigned[i] is None:
                lid = given[i] or self._new_id(taken)
                taken.add(lid)
                out[i] = (lid, not first)
                if not first:
                    self.events.append(TrackEvent(date, "new", lid))
        # Tracks touched by a lesion assigned elsewhere: merged; untouched tracks: disappeared.
        for j, t in enumerate(track_ids):
            if t in assigned:
                continue
            hits = [i for i in range(len(masks)) if overlap[i, j] > 0]
            if hits:
                target = out[max(hits, key=lambda i: overlap[i, j])][0]
                self.events.append(TrackEvent(date, "merged", target, (t,)))
                del self.tracks[t]
            elif t not in self.missing and t not in unmeasured:
                self.events.append(TrackEvent(date, "disappeared", t))
                self.missing.add(t)
        for (lid, _), m in zip(out, masks, strict=True):
            self.tracks[lid] = m
            self.sizes[lid] = int(m.sum())
        return out
