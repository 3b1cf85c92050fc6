"""Build cases for the criteria tests from compact scenario dictionaries (see scenarios/README.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from pseudoprog.case import Case
from pseudoprog.ingest.caseyaml import parse_case

SCENARIO_DIR = Path(__file__).parent / "scenarios"


def _lesion(lid: str, spec: Any) -> dict[str, Any]:
    if spec == "gone":
        return {"id": lid, "enhancing": False}
    if isinstance(spec, list):
        out: dict[str, Any] = {"id": lid, "long_mm": spec[0], "perp_mm": spec[1]}
        if len(spec) > 2:
            out["location_vs_rt"] = spec[2]
        return out
    if isinstance(spec, dict):
        return {"id": lid, **spec}
    raise ValueError(f"lesion {lid}: cannot read {spec!r}")


def scenario_doc(entry: dict[str, Any], templates: dict[str, Any]) -> dict[str, Any]:
    """The case.yaml document of a scenario."""
    tpl = templates[entry["template"]] if "template" in entry else {}
    timepoints = []
    for scan in entry["scans"]:
        tp: dict[str, Any] = {
            "date": scan["date"],
            "clinical_status": scan.get("clinical", "stable"),
            "steroids_mg_dexamethasone": scan.get("steroids", 0),
            "flair_change": scan.get("flair", "stable"),
        }
        # A scan without a `lesions` entry was not measured; an explicit empty mapping means "no lesion seen"
        # (case.yaml's `lesions: []` records earlier lesions as resolved).
        if "lesions" in scan:
            tp["lesions"] = [_lesion(k, v) for k, v in (scan.get("lesions") or {}).items()]
        if "histology_result" in scan:
            tp["histology_result"] = scan["histology_result"]
        timepoints.append(tp)
    return {
        "patient": {"id": entry["id"]},
        "diagnosis": entry.get("diagnosis", tpl.get("diagnosis")),
        "treatments": entry.get("treatments", tpl.get("treatments", [])),
        "timepoints": timepoints,
    }


def build_case(doc: dict[str, Any]) -> Case:
    case, _ = parse_case(doc, file=Path("scenario.yaml"), root=Path("."))
    return case


def load_scenarios() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (scenario, case document) pair of scenarios/*.yaml."""
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        templates = data.get("templates") or {}
        for entry in data["scenarios"]:
            out.append((entry, scenario_doc(entry, templates)))
    return out


def iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
