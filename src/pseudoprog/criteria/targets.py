"""Target and non-target lesions at the baseline scan, by the criterion's measurability rules.

An explicit choice in the input wins; otherwise the largest measurable lesions, up to the criterion's
``max_targets`` (clinical_rules.md §1.1). Every lesion enhancing at baseline is "known disease": a
lesion not among them at a later scan is new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..case import Lesion
from .rules import CriterionTable, criteria_table
from .timeline import lesion_gone, lesion_size, measurability


@dataclass(frozen=True)
class TargetChoice:
    """The baseline's target lesions, the other (non-target) lesions, and the reasons, as header lines."""

    targets: tuple[str, ...]
    nontargets: tuple[str, ...]
    reference_ids: frozenset[str]  # enhancing disease at baseline
    notes: tuple[str, ...]


def measurable(les: Lesion, crit: CriterionTable, method: str) -> tuple[bool, str]:
    """Measurability of a lesion with the criterion's minimum sizes."""
    v = crit.values
    return measurability(
        les,
        method,
        min_diameter_mm=v["measurable.min_diameter_mm"].value,
        min_perpendicular_mm=v["measurable.min_perpendicular_mm"].value
        if "measurable.min_perpendicular_mm" in v
        else None,
        min_volume_mm3=v["measurable.min_volume_mm3"].value if "measurable.min_volume_mm3" in v else None,
    )


def unmeasured_enhancing(lesions: Sequence[Lesion], method: str) -> list[str]:
    """Enhancing solid lesions reported without a size by ``method``: measurability cannot be decided."""
    return [
        les.id
        for les in lesions
        if les.enhancing
        and not lesion_gone(les)
        and lesion_size(les, method) is None
        and les.measurement.measurable is not False
        and les.component not in ("cystic", "cavity_wall")
    ]


def choose_targets(lesions: Sequence[Lesion], crit: CriterionTable, method: str) -> TargetChoice:
    """Targets (explicit in the input, else the largest measurable) and non-targets of the baseline scan."""
    tab = criteria_table()
    meas = {les.id: measurable(les, crit, method) for les in lesions}
    notes: list[str] = []
    max_t = crit.value("max_targets")
    explicit = [les.id for les in lesions if les.target]
    if explicit:
        targets = sorted(explicit)
        for tid in targets:
            if not meas[tid][0]:
                notes.append(f"caution: target {tid} was chosen in the input but is not measurable ({meas[tid][1]})")
    else:
        cands = [les for les in lesions if meas[les.id][0]]
        cands.sort(key=lambda les: (-(_size_or_zero(les, method)), les.id))
        targets = sorted(les.id for les in cands[: int(max_t.value)])
    nontargets = tuple(sorted(les.id for les in lesions if les.id not in targets and not lesion_gone(les)))
    if targets:
        notes.append(
            f"target lesions at baseline: {', '.join(targets)} ({method}; measurable = "
            + "; ".join(f"{t}: {meas[t][1]}" for t in targets)
            + f"; up to {int(max_t.value)} largest, {max_t.cite(tab.sources)})"
        )
    else:
        why = "; ".join(f"{k}: {v[1]}" for k, v in sorted(meas.items())) or "no lesion reported"
        notes.append(
            "no measurable disease at baseline (" + why + "): CR and PR cannot be assigned; only progression "
            "(new lesions, non-target progression, clinical) is assessed"
        )
    if nontargets:
        notes.append("non-target lesions: " + ", ".join(nontargets))
    return TargetChoice(
        targets=tuple(targets),
        nontargets=nontargets,
        reference_ids=frozenset(les.id for les in lesions if not lesion_gone(les)),
        notes=tuple(notes),
    )


def _size_or_zero(les: Lesion, method: str) -> float:
    s = lesion_size(les, method)
    return 0.0 if s is None else s
