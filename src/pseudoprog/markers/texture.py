"""Texture per-lesion features (radiomics) on T1c, FLAIR, ADC and rCBV, gathered into one table per case.

Features are not registry markers (they are not evidence yet): they go to ``features/texture.csv``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..assessment import MapOutput
from ..handoff import StageOutput

TABLE = Path("features") / "texture.csv"


@dataclass
class TextureTable:
    """Feature rows of every timepoint (each row names its date) and the extraction settings per image."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[dt.date, dict[str, Any]] = field(default_factory=dict)


def write_texture_table(tables: Sequence[TextureTable], out_dir: Path) -> StageOutput:
    """Write the case's table once from every timepoint's rows; each timepoint with rows records it as an output."""
    from ..texture import write_features_table

    out = StageOutput()
    table = TextureTable()
    for t in tables:
        table.rows.extend(t.rows)
        table.settings.update(t.settings)
    if not table.rows:
        return out
    settings: dict[str, Any] = {}
    for per_date in table.settings.values():
        settings.update(per_date)
    write_features_table(table.rows, settings, out_dir / TABLE)
    counts: dict[str, int] = defaultdict(int)
    for row in table.rows:
        counts[str(row.get("date"))] += 1
    for date, per_date in table.settings.items():
        params = {"images": sorted(per_date), "rows": counts[date.isoformat()]}
        out.at(date).files.append(MapOutput("texture_features", TABLE.as_posix(), "table", None, params))
    return out
