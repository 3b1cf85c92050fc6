"""The per-case texture features table: one row per (timepoint, lesion, image), one column per feature.

Written as CSV (whole or not at all) with a JSON sidecar holding the exact pyradiomics settings of every
image, so that ``calibrate`` can learn from it and anyone can recompute it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..align.resample import resample_mask
from ..case import LesionMask, Volume
from ..errors import CannotAssessError
from ..files import write_atomic
from .features import extract_features, texture_table

ID_COLUMNS = ("date", "lesion_id", "image", "region", "voxels_on_image_grid")


def lesion_texture_rows(
    images: Mapping[str, Volume], masks: Sequence[LesionMask], *, date: dt.date
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
    """Features of every lesion's enhancing region on every image.

    Returns the rows, the settings used per image, and a note for every (lesion, image) not computed.
    The masks are carried to each image's grid through the affines (one session, one scanner space).
    """
    rows: list[dict[str, Any]] = []
    settings: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for mask in masks:
        for name, vol in images.items():
            on_grid = resample_mask(mask.enhancing, mask.affine, vol.affine, vol.spatial_shape)
            try:
                result = extract_features(vol, on_grid, image=name)
            except CannotAssessError as exc:
                notes.append(f"lesion {mask.lesion_id}: {exc.reason}")
                continue
            settings[name] = dict(result.settings) | {"library_version": result.library_version}
            rows.append(
                {
                    "date": date.isoformat(),
                    "lesion_id": mask.lesion_id,
                    "image": name,
                    "region": "enhancing",
                    "voxels_on_image_grid": int(on_grid.sum()),
                    **result.features,
                }
            )
    return rows, settings, notes


def write_features_table(rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], path: Path) -> None:
    """Write the table as CSV and its settings as ``<name>.settings.json`` beside it (atomically)."""
    if not rows:
        raise ValueError("no rows to write")
    feature_cols = sorted({k for r in rows for k in r} - set(ID_COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*ID_COLUMNS, *feature_cols], restval="", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    meta = {
        "library": texture_table()["library"],
        "feature_classes": texture_table()["feature_classes"],
        "image_types": texture_table()["image_types"],
        "settings_per_image": settings,
        "region": "enhancing lesion mask, carried to each image grid (a voxel is in if >= half of it was)",
    }
    write_atomic(path.with_suffix(".settings.json"), json.dumps(meta, indent=2, default=str) + "\n")
    write_atomic(path, buf.getvalue())
