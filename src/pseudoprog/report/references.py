"""Numbered citations for the report: the machine-readable source tags become [1], [2] … and a reference list.

The stages write their sources as tags (``[V: R43]``, ``[SEED: S2]``, ``[V: E1]``), as sections of the
clinical-rules reference (``clinical_rules.md §1.3.3``, ``(§6 C16)``) and as ids of the evidence table
(``L02``, ``R43-early-rcbv_max``). ``assessment.json`` keeps them as they are; the report shows each as a
number pointing to a "References" list at the end, numbered in order of first use on the page. The
citations come from ``report/data/references.yaml`` (keys of docs/clinical_rules.md §7 and
docs/evidence_sources.md). Verification marks are put in words: ``[DERIVED]`` → "(derived)",
``[UNVERIFIED]`` → "(unverified)"; ``[V]`` / ``[V2]`` (checked against the source) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..files import load_table

_PROJECT = "project"
_TAG = re.compile(r"\[(?:V2?|SEED): *([A-Za-z]+\d+[a-z]?(?:\s*,\s*[A-Za-z]+\d+[a-z]?)*)\]")
_CHECKED = re.compile(r"\s*\[V2?\]")
_STATUS = re.compile(r"\[(DERIVED|UNVERIFIED)(?::\s*([^\]]*))?\]")
# A section of the clinical-rules reference, with an optional row (§6 C16, §2.9 L06) or range (§1.3–§1.7).
_SECTION = r"§\s?\d+(?:\.\d+)*(?:\s?[–-]\s?§?\d+(?:\.\d+)*)?(?:\s(?:[A-Z]\d+)(?![\w-]))?"
_SECTIONS = re.compile(rf"(?:clinical_rules(?:\.md)?\s*)?({_SECTION}(?:\s*,\s*{_SECTION})*)")
_BARE_RULES = re.compile(r"clinical_rules(?:\.md)?")
_INTERNAL = re.compile(r"\s*\((?:issue \d+[^)]*|pseudoprog\.[\w.]+|[\w]+\.yaml[^)]*)\)|\bissue \d+:\s*")
_MARK = "\x00"
_RUN = re.compile(rf"{_MARK}(\d+){_MARK}(?:[\s,;]*{_MARK}(\d+){_MARK})*")
_ONE = re.compile(rf"{_MARK}(\d+){_MARK}")
_WRAPPED = re.compile(r"\((\[[^\]()]+\])\)")


@cache
def _table() -> dict[str, Any]:
    return load_table("report", "references")


def citation_of(key: str) -> str | None:
    """The citation of a source key (``R43``, ``S2``, ``E1``), or ``None`` if the reference list lacks it."""
    entry = _table()["sources"].get(key)
    return None if entry is None else str(entry["citation"])


@cache
def _checked_citations() -> frozenset[str]:
    """Citations confirmed against a retrieved record: in full, or in part with the gaps said in the text."""
    out = {str(_table()[_PROJECT]["citation"])}  # the project's own reference
    for entry in _table()["sources"].values():
        checked = str(entry.get("checked") or "")
        text = str(entry["citation"])
        if checked.startswith("seen in full") or (checked.startswith("partly") and "not retrieved" in text):
            out.add(text)
    return frozenset(out)


def is_checked(citation: str) -> bool:
    """Whether a citation of the list was re-checked against a record of the publication (else the page marks it †)."""
    return citation in _checked_citations()


@cache
def _row_sources() -> dict[str, tuple[str, ...]]:
    """Evidence-table row id → the source keys its ``source`` text cites (ids written with a capital letter
    and a digit only, so that lower-case ids such as ``asl`` are never matched inside ordinary words)."""
    rows = load_table("evidence", "likelihoods").get("rows", ())
    out: dict[str, tuple[str, ...]] = {}
    for row in rows:
        rid = str(row.get("id", ""))
        if re.search(r"[A-Z]", rid) and re.search(r"\d", rid):
            keys = tuple(k.strip() for m in _TAG.finditer(str(row.get("source", ""))) for k in m.group(1).split(","))
            out[rid] = keys
    return out


@dataclass
class References:
    """The citations of one rendered page, numbered in order of first use."""

    _numbers: dict[str, int] = field(default_factory=dict)  # citation text → number
    _pending: list[str] = field(default_factory=list)  # "n" or "n §loc" items of the text being cited

    @property
    def entries(self) -> list[tuple[int, str]]:
        return [(n, text) for text, n in self._numbers.items()]

    def number(self, citation: str) -> int:
        if citation not in self._numbers:
            self._numbers[citation] = len(self._numbers) + 1
        return self._numbers[citation]

    def _mark(self, item: str) -> str:
        self._pending.append(item)
        return f"{_MARK}{len(self._pending) - 1}{_MARK}"

    def _key(self, key: str) -> str:
        citation = citation_of(key)
        if citation is None:  # a tag the list does not hold: shown as a source of its own, never dropped
            citation = f"[source {key} of the clinical-rules reference; not in this report's reference list]"
        return self._mark(str(self.number(citation)))

    def _project(self, locator: str) -> str:
        n = self.number(str(_table()[_PROJECT]["citation"]))
        return self._mark(f"{n} {locator}".strip())

    def cite(self, text: Any) -> str:
        """``text`` with its source tags as numbered citations ('… Rowe 2018 [3] …'); non-text as ``str``."""
        if text is None:
            return ""
        s = str(text)
        self._pending = []
        s = _INTERNAL.sub("", s)
        s = _TAG.sub(lambda m: "".join(self._key(k.strip()) for k in m.group(1).split(",")), s)
        s = _SECTIONS.sub(lambda m: self._project(re.sub(r"\s*,\s*", ", ", m.group(1))), s)
        s = _BARE_RULES.sub(lambda m: self._project(""), s)
        rows = _row_sources()
        if rows:
            ids = sorted(rows, key=len, reverse=True)
            pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(i) for i in ids) + r")(?![\w-])")
            s = pattern.sub(lambda m: "".join(self._key(k) for k in rows[m.group(1)]) or self._project(""), s)
        s = _CHECKED.sub("", s)
        s = _STATUS.sub(lambda m: f"({m.group(1).lower()}{': ' + m.group(2) if m.group(2) else ''})", s)
        s = _RUN.sub(self._bracket, s)
        s = _WRAPPED.sub(r"\1", s)  # "([3])" → "[3]"
        return re.sub(r"\s{2,}", " ", s).strip()

    def _bracket(self, m: re.Match[str]) -> str:
        items: list[str] = []
        for i in _ONE.findall(m.group(0)):
            item = self._pending[int(i)]
            if item not in items:
                items.append(item)
        return "[" + ", ".join(items) + "]"

    def cite_all(self, texts: Iterable[Any]) -> list[str]:
        return [self.cite(t) for t in texts]


def source_keys(text: str) -> list[str]:
    """The source keys a text's tags name (for tests and checks): '[V: R43] [SEED: S2]' → ['R43', 'S2']."""
    return [k.strip() for m in _TAG.finditer(text) for k in m.group(1).split(",")]


def known_keys() -> Mapping[str, Any]:
    return dict(_table()["sources"])
