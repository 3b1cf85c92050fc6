"""The cohort table: one row per case × timepoint, from each case's ``assessment.json`` (or its error).

Columns (units in the names):

- ``case`` (output folder name), ``case_id`` (case.yaml), ``status`` (ok | error), ``error`` (the reason);
- ``date``, ``timepoint`` (0 = first scan), ``days_on_study`` (days since the first scan), ``latest``;
- ``in_scope``, ``scope_reason``, ``chosen_criterion`` (the criterion that fits the case);
- per criterion ``<c>_call``, ``<c>_pct_vs_baseline``, ``<c>_pct_vs_nadir`` with ``c`` in rano, mrano, rano2,
  irano, rano_bm: each criterion's own call and burden change at that scan (its own baseline and nadir);
- ``spd_mm2`` (sum of long × perpendicular diameters of the measurable enhancing lesions) and ``volume_mm3``
  (sum of enhancing volumes), each with ``_pct_vs_baseline`` (first scan of the case) and ``_pct_vs_nadir``
  (smallest value at an earlier scan);
- one column per marker: the value at the index lesion (largest diameter product at that scan), or the
  timepoint-level value for markers without a lesion;
- at the latest scan only: ``probability`` with ``probability_low``/``probability_high`` (95 % interval),
  ``probability_label``, ``next_step``, ``management``; ``not_assessed`` counts the items not assessed;
- with labels: ``outcome`` (as given), ``label`` (1 true progression, 0 treatment effect).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError

CRITERIA = {"RANO": "rano", "mRANO": "mrano", "RANO 2.0": "rano2", "iRANO": "irano", "RANO-BM": "rano_bm"}
_TP = {"1", "true", "tp", "true_progression", "progression", "recurrence", "tumour", "tumor"}
_TE = {"0", "false", "te", "treatment_effect", "pseudoprogression", "radiation_necrosis", "necrosis", "stable"}


def slug(criterion: str) -> str:
    return CRITERIA.get(criterion, criterion.lower().replace(" ", "").replace(".", "").replace("-", "_"))


def _pct(value: float | None, ref: float | None) -> float | None:
    if value is None or ref is None or ref == 0:
        return None
    return round(100.0 * (value - ref) / ref, 2)


def _burden(lesions: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    spd = vol = None
    for les in lesions:
        if not les.get("enhancing", True):
            continue
        m = les.get("measurement") or {}
        if m.get("measurable") and m.get("long_mm") is not None and m.get("perp_mm") is not None:
            spd = (spd or 0.0) + float(m["long_mm"]) * float(m["perp_mm"])
        if m.get("enhancing_volume_mm3") is not None:
            vol = (vol or 0.0) + float(m["enhancing_volume_mm3"])
    return spd, vol


def _index_lesion(lesions: Sequence[Mapping[str, Any]]) -> str | None:
    best, best_id = -1.0, None
    for les in lesions:
        m = les.get("measurement") or {}
        if m.get("long_mm") is None or m.get("perp_mm") is None:
            continue
        product = float(m["long_mm"]) * float(m["perp_mm"])
        if product > best:
            best, best_id = product, les.get("id")
    return best_id


def _markers(tp: Mapping[str, Any]) -> dict[str, float]:
    index = _index_lesion(tp.get("lesions") or [])
    out: dict[str, float] = {}
    for m in tp.get("markers") or []:
        if m.get("value") is None:
            continue
        if m.get("lesion_id") in (None, index):
            out.setdefault(m["name"], float(m["value"]))
    return out


def rows_for_case(name: str, done: Mapping[str, Any], assessment: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The rows of one case: one per timepoint, or one error row."""
    if done.get("status") != "ok" or assessment is None:
        return [{"case": name, "status": "error", "error": done.get("error") or "no assessment.json"}]
    tps = assessment.get("timepoints") or []
    responses = [r for r in [assessment.get("response"), *(assessment.get("other_responses") or [])] if r]
    per_tp = {
        r["criteria"]: {p["date"]: p for p in r.get("per_timepoint") or []} for r in responses if r.get("criteria")
    }
    prob = assessment.get("probability_true_progression") or {}
    rec = assessment.get("recommendation") or {}
    first = None
    burdens: list[tuple[float | None, float | None]] = []
    rows = []
    import datetime as dt

    for i, tp in enumerate(tps):
        date = dt.date.fromisoformat(tp["date"])
        first = first or date
        spd, vol = _burden(tp.get("lesions") or [])
        row: dict[str, Any] = {
            "case": name,
            "case_id": assessment.get("case_id"),
            "status": "ok",
            "error": None,
            "date": tp["date"],
            "timepoint": i,
            "days_on_study": (date - first).days,
            "latest": i == len(tps) - 1,
            "in_scope": (assessment.get("scope") or {}).get("in_scope"),
            "scope_reason": (assessment.get("scope") or {}).get("reason"),
            "chosen_criterion": (assessment.get("response") or {}).get("criteria"),
        }
        for crit, calls in per_tp.items():
            call = calls.get(tp["date"]) or {}
            s = slug(crit)
            row[f"{s}_call"] = call.get("category")
            row[f"{s}_pct_vs_baseline"] = call.get("pct_change_vs_baseline")
            row[f"{s}_pct_vs_nadir"] = call.get("pct_change_vs_nadir")
        for key, value, k in (("spd_mm2", spd, 0), ("volume_mm3", vol, 1)):
            earlier = [x for b in burdens if (x := b[k]) is not None]
            row[key] = None if value is None else round(value, 2)
            row[f"{key}_pct_vs_baseline"] = _pct(value, burdens[0][k]) if burdens else None
            row[f"{key}_pct_vs_nadir"] = _pct(value, min(earlier)) if earlier else None
        burdens.append((spd, vol))
        row.update(_markers(tp))
        latest = i == len(tps) - 1
        interval = prob.get("interval") or [None, None]
        row["probability"] = prob.get("value") if latest else None
        row["probability_low"] = interval[0] if latest else None
        row["probability_high"] = interval[1] if latest else None
        row["probability_label"] = prob.get("label") if latest else None
        row["next_step"] = rec.get("next_step") if latest else None
        row["management"] = rec.get("management") if latest else None
        row["not_assessed"] = sum(
            1 for n in assessment.get("not_assessed") or [] if n.get("timepoint") in (None, tp["date"])
        )
        rows.append(row)
    return rows


def read_labels(path: Path) -> list[dict[str, Any]]:
    """labels.csv: ``case_id`` (or ``case``), ``date`` (scan the outcome refers to; empty = latest), ``outcome``."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip() for f in reader.fieldnames or []]
        key = "case_id" if "case_id" in fields else "case" if "case" in fields else None
        if key is None or "outcome" not in fields:
            raise InputError(
                "missing columns", file=path, field="case_id/outcome", expected="columns case_id, date, outcome"
            )
        out = []
        for i, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            outcome = row.get("outcome", "")
            low = outcome.lower()
            if low in _TP:
                label = 1
            elif low in _TE:
                label = 0
            else:
                raise InputError(
                    f"row {i}: outcome {outcome!r} not recognised",
                    file=path,
                    field="outcome",
                    expected="true_progression/1 or treatment_effect (pseudoprogression, radiation_necrosis)/0",
                )
            out.append({"case": row[key], "date": row.get("date") or None, "outcome": outcome, "label": label})
    return out


def join_labels(rows: list[dict[str, Any]], labels: Sequence[Mapping[str, Any]]) -> list[str]:
    """Put ``outcome``/``label`` on the matching rows (case folder name or case_id; the date, or the latest
    scan when the label has none). Returns the labels that matched no row, described."""
    unmatched = []
    for lab in labels:
        hits = [
            r
            for r in rows
            if r.get("status") == "ok"
            and lab["case"] in (r.get("case"), r.get("case_id"))
            and (r.get("date") == lab["date"] if lab["date"] else r.get("latest"))
        ]
        if not hits:
            unmatched.append(f"{lab['case']} {lab['date'] or '(latest)'}")
        for r in hits:
            r["outcome"], r["label"] = lab["outcome"], lab["label"]
    return unmatched


def load_rows(cases_root: Path, done: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, marker in done.items():
        assessment = None
        path = cases_root / name / "assessment.json"
        if marker.get("status") == "ok" and path.is_file():
            assessment = json.loads(path.read_text())
        rows.extend(rows_for_case(name, marker, assessment))
    return rows


def marker_columns(columns: Sequence[str]) -> list[str]:
    from ..markers import MARKERS

    return [c for c in columns if c in MARKERS]


def calibration_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The labelled rows in the format ``pseudoprog calibrate`` reads: case_id, label, one column per marker."""
    cols: list[str] = []
    for r in rows:
        cols.extend(c for c in marker_columns(list(r)) if c not in cols)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["case_id", "label", *cols])
    for r in rows:
        if r.get("label") is None:
            continue
        values = [r.get(c) for c in cols]
        writer.writerow(
            [f"{r['case']}@{r['date']}", r["label"], *("" if v is None or math.isnan(v) else repr(v) for v in values)]
        )
    return buf.getvalue()
