"""Record every criterion's complete output over the scenario table and a fixed set of random timelines.

The saved file (``data/reference_calls.json``) is the safety net of refactoring the criteria engine:
``test_criteria_reference.py`` recomputes every entry and compares it exactly. Regenerate it only when a
call is *meant* to change, and say so in the commit message::

    PYTHONPATH=src python -m tests.criteria.make_reference
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from pathlib import Path
from typing import Any

import yaml

from pseudoprog.case import Case
from pseudoprog.criteria import ASSESSORS, assess_all, assess_criterion, criteria_table, to_response_call
from pseudoprog.criteria.rano import assess_rano
from pseudoprog.criteria.rano2 import assess_rano2
from pseudoprog.criteria.timeline import CriterionResult

from .criteria_helpers import SCENARIO_DIR, build_case, load_scenarios, scenario_doc

DATA = Path(__file__).parent / "data"
REFERENCE = DATA / "reference_calls.json"  # the scenario table, readable diffs
REFERENCE_RANDOM = DATA / "reference_random.json.gz"  # the random timelines (8 MB as plain JSON)
N_RANDOM = 120  # random timelines besides the scenarios (fixed seed, stored with their case documents)
SEED = 20261201


def _plain(value: Any) -> Any:
    """JSON-ready copy; infinities and NaN become strings so the comparison stays exact."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _result(result: CriterionResult, selection_reason: str | None = None) -> dict[str, Any]:
    call = dataclasses.asdict(to_response_call(result, selection_reason=selection_reason))
    call["result"] = {
        "criterion": result.criterion,
        "title": result.title,
        "method": result.method,
        "category": result.category.value,
        "notes": list(result.notes),
        "reason": result.reason,
    }
    return _plain(call)


def _runs(case: Case) -> dict[str, Any]:
    """Every criterion by its default method (as ``assess_all``) and by each other method it defines."""
    chosen, why, results = assess_all(case)
    out: dict[str, Any] = {"chosen": chosen, "why": why}
    for name, result in results.items():
        out[name] = _result(result, why if name == chosen else None)
    tab = criteria_table()
    for name in ASSESSORS:
        table = tab[name]
        for method in table.thresholds:
            if method != table.measure:
                out[f"{name} / {method}"] = _result(assess_criterion(case, name, method=method))
    out["RANO 2.0 / confirm_after_window"] = _result(assess_rano2(case, confirm_after_window=True))
    out["RANO / marginal inside"] = _result(assess_rano(case, marginal_counts_as_outside=False))
    return out


def _random_docs(n: int, seed: int) -> list[dict[str, Any]]:
    """Random timelines over the scenario templates (sizes, locations, gone/new lesions, clinical, steroids)."""
    rng = random.Random(seed)
    templates: dict[str, Any] = {}
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        templates.update(yaml.safe_load(path.read_text(encoding="utf-8")).get("templates") or {})
    dates = {
        "gbm": ["2025-01-08", "2025-04-11", "2025-05-09", "2025-05-23", "2025-06-13", "2025-07-11", "2025-08-08"],
        "srs": ["2025-01-27", "2025-04-28", "2025-07-28", "2025-08-25", "2025-10-27"],
        "srs_immuno": ["2025-01-27", "2025-04-28", "2025-07-28", "2025-08-25", "2025-10-27"],
        "gbm_immuno": ["2025-06-13", "2025-07-11", "2025-08-08", "2025-09-12", "2025-11-07"],
    }
    locations = ["in_field", "out_of_field", "marginal", "unknown"]
    docs = []
    for k in range(n):
        template = rng.choice(sorted(t for t in dates if t in templates))
        picked = sorted(rng.sample(dates[template], rng.randint(2, min(5, len(dates[template])))))
        scans = []
        for d in picked:
            lesions: dict[str, Any] = {}
            for lid, required in (("L1", True), ("L2", False), ("L3", False)):
                kind = rng.choice(["sized"] * 6 + ["gone"] + ([] if required else ["absent", "absent"]))
                if kind == "absent":
                    continue
                if kind == "gone":
                    lesions[lid] = "gone"
                    continue
                long_mm = round(rng.uniform(3.0, 40.0), 1)
                spec: dict[str, Any] = {
                    "long_mm": long_mm,
                    "perp_mm": round(long_mm * rng.uniform(0.4, 1.0), 1),
                    "location_vs_rt": rng.choice(locations),
                }
                if rng.random() < 0.8:  # volumes drive the volumetric runs
                    spec["volume_ml"] = round(long_mm * spec["perp_mm"] * rng.uniform(0.3, 0.7) / 1000.0, 2)
                if rng.random() < 0.1:
                    spec["equivocal"] = True
                if rng.random() < 0.1:
                    spec["unequivocal_progression"] = True
                lesions[lid] = spec
            scan: dict[str, Any] = {
                "date": d,
                "lesions": lesions,
                "clinical": rng.choice(["stable"] * 5 + ["worse", "worse_other_cause", "improved", "unknown"]),
                "steroids": rng.choice([0, 0, 0, 2, 4, 8, None]),
                "flair": rng.choice(["stable"] * 4 + ["increased", "increased_other_cause", "unknown"]),
            }
            if rng.random() < 0.08:
                scan["histology_result"] = rng.choice(["tumour", "treatment_effect"])
            scans.append(scan)
        entry = {"id": f"random-{k:03d}", "template": template, "scans": scans}
        docs.append(scenario_doc(entry, templates))
    return docs


def load_reference(path: Path) -> list[dict[str, Any]]:
    """The saved entries ``{"id", "case", "runs"}`` of one reference file."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return json.loads(raw.decode("utf-8"))


def compute(doc: dict[str, Any]) -> dict[str, Any]:
    """The recorded output of one case document."""
    return _runs(build_case(doc))


def _entries(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # the case document goes through JSON first (dates as text), so the test rebuilds exactly this case
    out = []
    for doc in docs:
        plain = json.loads(json.dumps(doc, default=str))
        out.append({"id": plain["patient"]["id"], "case": plain, "runs": compute(plain)})
    return out


def main() -> None:
    scenarios = _entries([doc for _, doc in load_scenarios()])
    randoms = _entries(_random_docs(N_RANDOM, SEED))
    DATA.mkdir(parents=True, exist_ok=True)
    text = json.dumps(scenarios, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    REFERENCE.write_text(text, encoding="utf-8")
    blob = json.dumps(randoms, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    REFERENCE_RANDOM.write_bytes(gzip.compress(blob, mtime=0))
    print(f"{len(scenarios)} scenarios → {REFERENCE.name}; {len(randoms)} random timelines → {REFERENCE_RANDOM.name}")


if __name__ == "__main__":
    main()
