"""The evidence stage of the flow: prior × likelihoods → probability of true progression, as a StageOutput."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from ..case import Case, Lesion, Marker
from ..handoff import StageOutput


def run_evidence(
    case: Case,
    lesions: Mapping[dt.date, tuple[Lesion, ...]],
    markers: Mapping[dt.date, Sequence[Marker]],
    *,
    profile: Path | None = None,
    known_warnings: Collection[str] = (),
) -> StageOutput:
    """The outcome in ``results[EvidenceOutcome]``; no probability (with the reason) when the tables cannot give one."""
    from . import evaluate_case, load_profile_table
    from .evaluate import EvidenceOutcome

    out = StageOutput()
    try:
        outcome = evaluate_case(
            case, lesions=lesions, markers={d: list(m) for d, m in markers.items()}, table=load_profile_table(profile)
        )
    except ValueError as exc:
        out.skip("evidence", f"no probability: {exc}")
        return out
    out.results[EvidenceOutcome] = outcome
    out.warnings.extend(w for w in outcome.warnings if w not in known_warnings)
    return out
