"""The result of assessing one case, and its JSON form (``assessment.json``).

The top-level keys of ``assessment.json`` are a contract with users and downstream tools:
``case_id``, ``software_version``, ``scope``, ``timepoints``, ``response``,
``probability_true_progression``, ``evidence``, ``recommendation``, ``not_assessed``.
Add keys; never rename or remove one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .case import Case, Lesion, Marker, Series
from .files import write_atomic
from .privacy import redact

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Scope:
    in_scope: bool
    reason: str


@dataclass(frozen=True)
class NotAssessed:
    """A stage or value that could not be produced, and why (never replaced by an invented value)."""

    stage: str
    reason: str
    timepoint: dt.date | None = None
    lesion_id: str | None = None

    def __post_init__(self) -> None:
        # A reason often embeds a library's error text, which may quote a header value (pseudoprog.privacy).
        object.__setattr__(self, "reason", redact(self.reason))


@dataclass(frozen=True)
class MapOutput:
    """A quantitative map written to disk (NIfTI), with its unit and the parameters that made it."""

    name: str  # rcbv, cbf, ktrans, adc ...
    path: str  # relative to the output folder
    unit: str
    series_uid: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimepointResult:
    date: dt.date
    lesions: tuple[Lesion, ...] = ()
    markers: tuple[Marker, ...] = ()
    series: tuple[Series, ...] = ()
    maps: tuple[MapOutput, ...] = ()
    warnings: tuple[str, ...] = ()
    # The lesions stage's transforms: onto the baseline and each series onto the T1c (Registration.to_dict()).
    registration: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseCall:
    """The response category for the latest timepoint under one criterion, with its reasoning."""

    criteria: str  # "RANO" | "mRANO" | "RANO 2.0" | "iRANO" | "RANO-BM"
    category: str  # CR | PR | SD | PD | "PD (unconfirmed)" | "cannot assess" | ...
    explanation: tuple[str, ...] = ()
    reference: Mapping[str, Any] = field(default_factory=dict)  # baseline / nadir used and numbers compared
    per_timepoint: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ProbabilityEstimate:
    value: float | None
    interval: tuple[float, float] | None
    label: str | None = None  # "progression favoured" | "treatment effect favoured" | "indeterminate"
    prior: float | None = None
    method: str = ""


@dataclass(frozen=True)
class EvidenceItem:
    name: str
    value: Any
    unit: str | None
    likelihood_ratio: float | None
    direction: str  # "tumour" | "treatment_effect" | "neutral" | "prior"
    source: str
    note: str = ""


@dataclass(frozen=True)
class Recommendation:
    next_step: str | None
    rating: str | None
    management: str | None
    warnings: tuple[str, ...] = ()
    rationale: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    case_id: str
    software_version: str
    scope: Scope
    timepoints: tuple[TimepointResult, ...]
    response: ResponseCall | None
    probability_true_progression: ProbabilityEstimate
    evidence: tuple[EvidenceItem, ...]
    recommendation: Recommendation
    not_assessed: tuple[NotAssessed, ...]
    warnings: tuple[str, ...] = ()
    other_responses: tuple[ResponseCall, ...] = ()  # the criteria that do not fit the case best
    diagnosis: Mapping[str, Any] = field(default_factory=dict)
    treatments: tuple[Mapping[str, Any], ...] = ()
    created: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)  # name -> path relative to the output folder

    def to_json_dict(self) -> dict[str, Any]:
        d = to_jsonable(self)
        d["schema_version"] = SCHEMA_VERSION
        d["response"] = d["response"] or {"criteria": None, "category": None, "explanation": []}
        return d


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, dates, paths and numpy values → plain JSON values (NaN → null)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def case_record(case: Case) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """The diagnosis and the treatments as assessment.json records them."""
    d = case.diagnosis
    treatments = tuple(
        {
            "type": t.type.value,
            "start": t.start.isoformat(),
            "end": t.end.isoformat() if t.end else None,
            "dose_gy": t.dose_gy,
            "fractions": t.fractions,
            "agent": t.agent,
        }
        for t in case.treatments
    )
    return {"type": d.type.value, "idh": d.idh.value, "mgmt": d.mgmt.value, "primary": d.primary}, treatments


def write_assessment_json(assessment: Assessment, path: Path, *, case_root: Path | None = None) -> None:
    """Write assessment.json; with ``case_root``, input paths inside the case folder are stored relative to it.

    Relative paths keep the file portable and keep the machine's folder names (which often carry a patient's
    name or id) out of a document that is shared.
    """
    doc = assessment.to_json_dict()
    if case_root is not None:
        doc = _relative_paths(doc, str(Path(case_root).resolve()))
    write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _relative_paths(value: Any, root: str) -> Any:
    """Every string that is an absolute path below ``root``, made relative to it (recursively)."""
    if isinstance(value, str):
        if value.startswith(root + os.sep):
            return value[len(root) + 1 :]
        return value
    if isinstance(value, dict):
        return {k: _relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative_paths(v, root) for v in value]
    return value
