"""The criteria data table (``data/criteria.yaml``): thresholds, windows and their sources, typed.

Every number the response engine compares against comes from here, with the source it was taken
from and its verification status (clinical_rules.md §0.1). Values marked ``UNVERIFIED`` are
implemented as written in the rules reference and flagged in every explanation that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import PseudoprogError
from ..files import load_table

STATUSES = ("V", "V2", "UNVERIFIED", "DERIVED")
CRITERIA_NAMES = ("RANO", "mRANO", "RANO 2.0", "iRANO", "RANO-BM")


class CriteriaTableError(PseudoprogError):
    """The shipped criteria table is malformed (a packaging or editing mistake, not a user error)."""


@dataclass(frozen=True)
class Sourced:
    """A value with the key of its source and its verification status."""

    value: float
    source: str
    status: str

    def cite(self, sources: Mapping[str, str]) -> str:
        tag = f"[{self.status}]"
        return f"{sources.get(self.source, self.source)} {tag}"


@dataclass(frozen=True)
class Thresholds:
    pr_pct: float
    pd_pct: float
    source: str
    status: str


@dataclass(frozen=True)
class CriterionTable:
    """The numbers of one criterion, as read from the table."""

    name: str
    title: str
    source: str
    measure: str | None
    thresholds: Mapping[str, Thresholds]
    values: Mapping[str, Sourced]

    def value(self, key: str) -> Sourced:
        if key not in self.values:
            raise CriteriaTableError(f"criteria.yaml: {self.name} has no '{key}'")
        return self.values[key]

    def threshold(self, method: str) -> Thresholds:
        if method not in self.thresholds:
            raise CriteriaTableError(f"criteria.yaml: {self.name} has no thresholds for '{method}'")
        return self.thresholds[method]


@dataclass(frozen=True)
class CriteriaTable:
    sources: Mapping[str, str]  # key → short citation used in explanations
    criteria: Mapping[str, CriterionTable]
    citations: Mapping[str, str]  # key → full citation

    def __getitem__(self, name: str) -> CriterionTable:
        return self.criteria[name]

    def cite(self, key: str) -> str:
        return self.sources.get(key, key)


def _sourced(name: str, key: str, raw: Any, sources: Mapping[str, str]) -> Sourced:
    if not isinstance(raw, Mapping) or not {"value", "source", "status"} <= set(raw):
        raise CriteriaTableError(f"criteria.yaml: {name}.{key} must give value, source and status")
    if raw["source"] not in sources:
        raise CriteriaTableError(f"criteria.yaml: {name}.{key} cites unknown source {raw['source']!r}")
    if raw["status"] not in STATUSES:
        raise CriteriaTableError(f"criteria.yaml: {name}.{key} has unknown status {raw['status']!r}")
    return Sourced(float(raw["value"]), str(raw["source"]), str(raw["status"]))


def parse_table(data: Any) -> CriteriaTable:
    """Validate the parsed YAML of the criteria table."""
    if not isinstance(data, Mapping) or "sources" not in data or "criteria" not in data:
        raise CriteriaTableError("criteria.yaml must hold 'sources' and 'criteria'")
    sources: dict[str, str] = {}
    full: dict[str, str] = {}
    for k, v in data["sources"].items():
        if not isinstance(v, Mapping) or not {"short", "full"} <= set(v):
            raise CriteriaTableError(f"criteria.yaml: source {k!r} must give 'short' and 'full'")
        sources[str(k)], full[str(k)] = str(v["short"]), str(v["full"])
    out: dict[str, CriterionTable] = {}
    for name, raw in data["criteria"].items():
        if name not in CRITERIA_NAMES:
            raise CriteriaTableError(f"criteria.yaml: unknown criterion {name!r}")
        thresholds = {}
        for method, t in (raw.get("thresholds") or {}).items():
            if t["source"] not in sources:
                raise CriteriaTableError(f"criteria.yaml: {name}.thresholds.{method} cites unknown source")
            if not t["pr_pct"] < 0 < t["pd_pct"]:
                raise CriteriaTableError(f"criteria.yaml: {name}.thresholds.{method} needs pr_pct < 0 < pd_pct")
            thresholds[method] = Thresholds(float(t["pr_pct"]), float(t["pd_pct"]), t["source"], t["status"])
        values: dict[str, Sourced] = {}
        for key, v in raw.items():
            if key in ("title", "source", "measure", "thresholds"):
                continue
            if key == "measurable":
                for sub, sv in v.items():
                    values[f"measurable.{sub}"] = _sourced(name, f"measurable.{sub}", sv, sources)
            else:
                values[key] = _sourced(name, key, v, sources)
        out[name] = CriterionTable(
            name=name,
            title=str(raw["title"]),
            source=str(raw["source"]),
            measure=raw.get("measure"),
            thresholds=thresholds,
            values=values,
        )
    missing = set(CRITERIA_NAMES) - set(out)
    if missing:
        raise CriteriaTableError(f"criteria.yaml lacks {sorted(missing)}")
    return CriteriaTable(sources=sources, criteria=out, citations=full)


@cache
def criteria_table() -> CriteriaTable:
    """The shipped table (``pseudoprog/criteria/data/criteria.yaml``), read once."""
    return parse_table(load_table("criteria", "criteria"))
