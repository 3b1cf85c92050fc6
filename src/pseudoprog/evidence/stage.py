"""The evidence stage of the flow: prior × likelihoods → probability of true progression, as a StageOutput."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from ..assessment import ProbabilityEstimate
from ..case import Case, Lesion, Marker
from ..handoff import StageOutput
from ..question import Question, no_probability


def run_evidence(
    case: Case,
    lesions: Mapping[dt.date, tuple[Lesion, ...]],
    markers: Mapping[dt.date, Sequence[Marker]],
    *,
    profile: Path | None = None,
    known_warnings: Collection[str] = (),
    question: Question | None = None,
) -> StageOutput:
    """The outcome in ``results[EvidenceOutcome]``; no probability (with the reason) when the tables cannot give one,
    or when the data show no new or enlarging enhancing lesion (``question``: issue 12, clinical_rules §3.1)."""
    from . import evaluate_case, load_profile_table
    from .evaluate import EvidenceOutcome

    out = StageOutput()
    if (null := no_probability(question)) is not None:
        out.results[ProbabilityEstimate] = null
        out.skip("evidence", null.method)
        return out
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
