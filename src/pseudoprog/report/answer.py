"""The answer box in words: the headline and the one sentence that reconciles the criteria call with the evidence.

The response criteria judge size; the probability weighs the prior, the physiological markers and the
clinical picture. The two can point different ways ("PD (preliminary)" next to "treatment effect
favoured"), and a reader must not be left to guess why. :func:`reconcile` says, for every pair of
(criteria call, probability label) the stages can produce, how the two fit together. Built from the JSON
form of the assessment only, so ``pseudoprog report`` re-renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Criteria calls (pseudoprog.criteria.timeline.Category values) by what they say about progression.
PD_CONFIRMED = frozenset({"PD"})
PD_PROVISIONAL = frozenset({"PD (preliminary)", "PD (unconfirmed)"})
PD_WINDOW = frozenset({"PD not allowed: within pseudoprogression window"})
NOT_PD = frozenset({"SD", "PR", "PR (unconfirmed)", "CR", "CR (unconfirmed)"})
STEROIDS = frozenset({"not evaluable: steroids increased"})
NO_CALL = frozenset({"baseline", "before baseline", "cannot assess", "not applicable"})

# Probability labels (pseudoprog.evidence.evaluate.label) by side.
TUMOUR = "progression favoured"
TREATMENT = "treatment effect favoured"
UNDECIDED = frozenset({"indeterminate", "mixed / indeterminate"})
LABELS = frozenset({TUMOUR, TREATMENT, *UNDECIDED})
CATEGORIES = PD_CONFIRMED | PD_PROVISIONAL | PD_WINDOW | NOT_PD | STEROIDS | NO_CALL


def _evidence_says(label: str) -> str:
    if label == TUMOUR:
        return "the weighed evidence (prior, markers, clinical course) favours progression"
    if label == TREATMENT:
        return "the weighed evidence (prior, markers, clinical course) favours treatment effect"
    if label == "mixed / indeterminate":
        return (
            "the weighed evidence does not separate progression from treatment effect: imaging findings pull "
            "both ways and the 95 % interval spans 50 %"
        )
    return "the weighed evidence does not separate progression from treatment effect (the 95 % interval spans 50 %)"


def _weeks(data: Mapping[str, Any]) -> str:
    """'10.4 weeks after radiotherapy' from the latest criteria row, '' if not recorded."""
    rows = [r for r in (data.get("response") or {}).get("per_timepoint") or () if isinstance(r, Mapping)]
    window = (rows[-1].get("window") or {}) if rows else {}
    weeks = window.get("weeks_since_radiotherapy") if isinstance(window, Mapping) else None
    limit = window.get("window_weeks") if isinstance(window, Mapping) else None
    if isinstance(weeks, (int, float)) and isinstance(limit, (int, float)):
        return f"At {weeks:.1f} weeks after radiotherapy (inside the {limit:g}-week window)"
    return "Inside the 12-week window after radiotherapy"


def reconcile(data: Mapping[str, Any]) -> str | None:
    """The sentence that tells how the criteria call and the probability label fit together.

    ``None`` only when there is nothing to reconcile: no probability (its reason is shown instead) or a
    case out of scope. Every other pair gets a sentence, agreeing pairs included, so the reader never
    has to infer the relation.
    """
    if not (data.get("scope") or {}).get("in_scope", False):
        return None
    p = data.get("probability_true_progression") or {}
    label = p.get("label")
    if p.get("value") is None or not label:
        return None
    response = data.get("response") or {}
    call = response.get("category")
    crit = response.get("criteria") or "The response criteria"
    says = _evidence_says(str(label))
    side = "tumour" if label == TUMOUR else ("treatment" if label == TREATMENT else "undecided")
    if not call:
        return (
            f"No response call could be made (criteria not assessed); {says}, from the history and the markers alone."
        )
    if call in PD_PROVISIONAL:
        kind = "preliminary" if "preliminary" in call else "unconfirmed"
        if side == "tumour":
            return (
                f"{crit} calls this {kind} PD and {says}: they agree, but the criteria still ask for a "
                "confirmation scan before progression is dated."
            )
        return (
            f"{crit} calls this {kind} PD on size alone; {says}. Size cannot tell tumour from treatment effect, "
            "so the call stays provisional until a confirmation scan shows further growth — hence the next step."
        )
    if call in PD_WINDOW:
        head = (
            f"{_weeks(data)} {crit} does not allow PD on enlargement alone (only new enhancement outside the "
            "high-dose field, or histology)"
        )
        if side == "treatment":
            return f"{head}; {says}, i.e. pseudoprogression: they agree."
        if side == "tumour":
            return (
                f"{head}; {says}, but that does not override the rule: confirm on follow-up or with tissue (next step)."
            )
        return f"{head}; {says}, so the lesion is followed on a confirmation scan (next step)."
    if call in PD_CONFIRMED:
        if side == "tumour":
            return f"{crit} calls PD and {says}: they agree."
        return (
            f"{crit} calls PD from size; {says}. Treatment effect can also keep enlarging, so size alone does not "
            "settle it: the disagreement is for the team, with the next step."
        )
    if call in NOT_PD:
        if side == "tumour":
            return (
                f"{crit} calls {call}: the change does not reach its progression threshold (or the new lesion is "
                f"not measurable); {says}. The criteria measure size only, so the next step, not either alone, "
                "settles the disagreement."
            )
        if side == "treatment":
            return f"{crit} calls {call} and {says}: they agree."
        return f"{crit} calls {call}; {says} (next step)."
    if call in STEROIDS:
        return (
            f"{crit} does not evaluate this scan because the steroid dose rose; {says}, from the markers and "
            "history rather than from a response call."
        )
    # baseline, before baseline, cannot assess, not applicable, or a call this module does not know
    return (
        f"{crit} gives no progression call at this scan ({call}); {says}, from the reported change, the markers "
        "and the history."
    )


def headline(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The headline numbers: point value and 95 % interval (fractions) and the label, or ``None`` without a value."""
    p = data.get("probability_true_progression") or {}
    value, interval = p.get("value"), p.get("interval")
    if value is None or not interval:
        return None
    return {"value": float(value), "low": float(interval[0]), "high": float(interval[1]), "label": p.get("label")}
