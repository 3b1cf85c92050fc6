"""One case through the evidence stage: prior, modifiers, markers, fusion, and the recorded steps.

Every step becomes an :class:`~pseudoprog.assessment.EvidenceItem`: the prior (with its base-rate row),
each modifier and marker with its likelihood ratio and how the correlation rule used it, what was reported
but not applied and why, the growth over the timeline, and the posterior.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..assessment import EvidenceItem, ProbabilityEstimate
from ..case import Case, Lesion, Marker
from .fusion import Contribution, FusionResult, fuse
from .likelihoods import LikelihoodTable, marker_evidence
from .priors import CaseFacts, case_facts, compute_prior


@dataclass(frozen=True)
class EvidenceOutcome:
    probability: ProbabilityEstimate
    items: tuple[EvidenceItem, ...]
    warnings: tuple[str, ...]
    facts: CaseFacts
    fusion: FusionResult
    applied: tuple[Contribution, ...]
    marker_families: frozenset[str]  # families of the applied markers (perfusion, diffusion, ...)
    reported_markers: frozenset[str]  # every marker name present at the latest scan


def _direction(log_lr: float) -> str:
    if log_lr > 1e-9:
        return "tumour"
    if log_lr < -1e-9:
        return "treatment_effect"
    return "neutral"


def label_for(value: float, family_log_lr: Mapping[str, float], constants: Mapping[str, float]) -> str:
    """The posterior's label from the sourced bands ([DERIVED] choices in ``likelihoods.yaml``)."""
    hi = float(constants["label_progression_at"])
    lo = float(constants["label_treatment_effect_at"])
    strong = math.log(float(constants["mixed_family_lr"]))
    imaging = {k: v for k, v in family_log_lr.items() if not k.startswith("modifier:")}
    pulls_up = any(v >= strong for v in imaging.values())
    pulls_down = any(v <= -strong for v in imaging.values())
    if value >= hi:
        return "progression favoured"
    if value <= lo:
        return "treatment effect favoured"
    if pulls_up and pulls_down:
        return "mixed / indeterminate"
    return "indeterminate"


def growth_item(case: Case, lesions: Mapping[dt.date, Sequence[Lesion]]) -> EvidenceItem | None:
    """Change of the summed enhancing bidimensional product at the latest scan against the nadir of earlier scans."""
    sums: list[tuple[dt.date, float]] = []
    for tp in case.timepoints:
        les = lesions.get(tp.date, tp.lesions)
        products = [x.measurement.bidimensional_product_mm2 for x in les if x.enhancing]
        values = [p for p in products if p is not None]
        if values:
            sums.append((tp.date, float(sum(values))))
    if len(sums) < 2 or sums[-1][0] != case.latest.date:
        return None
    nadir = min(v for _, v in sums[:-1])
    latest = sums[-1][1]
    if nadir <= 0:
        change_text = "new enhancement against a nadir of 0 mm²"
        change = None
    else:
        change = 100.0 * (latest - nadir) / nadir
        change_text = f"{change:+.0f} % against the nadir of {len(sums) - 1} earlier scan(s)"
    return EvidenceItem(
        name="growth_vs_nadir",
        value=None if change is None else round(change, 1),
        unit="%",
        likelihood_ratio=None,
        direction="neutral",
        source="sum of enhancing bidimensional products (clinical_rules §1.1); nadir over all priors (§4.4)",
        note=change_text + "; the prior is already conditioned on an enlarging lesion, so growth is not counted "
        "again (kinetics model AUC 0.76 needs >= 3 volumes [V: R65], not applied)",
    )


def evaluate_case(
    case: Case,
    *,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    markers: Mapping[dt.date, Sequence[Marker]] | None = None,
    table: LikelihoodTable | None = None,
    n_draws: int | None = None,
    seed: int = 20261121,
    naive: bool = False,
) -> EvidenceOutcome:
    """Probability of true progression at the case's latest scan, with every step recorded.

    Parameters
    ----------
    case
        The case (its latest timepoint is assessed).
    lesions, markers
        Per-date lesions and markers from the earlier stages (default: those reported in case.yaml).
    table
        Accuracy table; pass ``LikelihoodTable.load().with_site_rows(...)`` to use a site profile.
    n_draws
        Monte Carlo draws (default from the table constants).
    seed
        Seed of the Monte Carlo generator: the same case always gives the same interval.
    naive
        Multiply every likelihood ratio as if independent (comparison only).
    """
    tab = table or LikelihoodTable.load()
    n = int(n_draws if n_draws is not None else tab.constants["monte_carlo_draws"])
    if n < 100:
        raise ValueError(f"n_draws must be at least 100 for a stable interval, got {n}")
    rng = np.random.default_rng(seed)
    latest = case.latest
    les_latest = (lesions or {}).get(latest.date, latest.lesions)
    facts = case_facts(case, lesions=les_latest)
    pr = compute_prior(facts, rng=rng, n_draws=n)
    latest_markers: list[Marker] = list((markers or {}).get(latest.date, ()))
    if markers is None:
        latest_markers = list(latest.markers.values()) + [m for x in latest.lesions for m in x.markers.values()]
    population = "metastasis" if facts.metastasis else "glioma"
    early_weeks = float(tab.constants["early_window_weeks"])
    window = "early" if facts.weeks_since_rt is not None and facts.weeks_since_rt < early_weeks else "late"
    me = marker_evidence(latest_markers, population=population, window=window, rng=rng, n_draws=n, table=tab)
    contributions = list(pr.modifiers) + list(me.applied)
    result = fuse(pr.prior, contributions, discount=tab.discount, naive=naive)

    warnings: list[str] = list(me.warnings)
    items: list[EvidenceItem] = []
    when = (
        f"{facts.weeks_since_rt:.1f} weeks after {facts.rt_course.split(' ending')[0]}"
        if facts.weeks_since_rt is not None and facts.rt_course
        else "no radiation course before the scan"
    )
    items.append(
        EvidenceItem(
            name="prior",
            value=round(pr.prior.value, 4),
            unit="probability",
            likelihood_ratio=None,
            direction="prior",
            source=pr.prior.source,
            note=f"base rate {pr.prior.row_id} ({pr.base_row['population']}); {when}; "
            f"95 % interval {pr.prior.interval[0]:.2f}-{pr.prior.interval[1]:.2f}",
        )
    )
    weight_of = {w.name: w for w in result.weights}
    for c in contributions:
        w = weight_of[c.name]
        items.append(
            EvidenceItem(
                name=c.name,
                value=c.value,
                unit=c.unit,
                likelihood_ratio=round(math.exp(c.log_lr), 4),
                direction=_direction(c.log_lr),
                source=c.source,
                note="; ".join(x for x in (c.note, w.reason, f"effective LR {math.exp(w.weight * c.log_lr):.3g}") if x),
            )
        )
    for lm in pr.listed:
        items.append(
            EvidenceItem(
                name=lm.id,
                value=lm.finding,
                unit=None,
                likelihood_ratio=None,
                direction=lm.direction,
                source=lm.source,
                note="listed, not applied: no verified size",
            )
        )
    for r in me.reported:
        items.append(
            EvidenceItem(
                name=r.name,
                value=r.value,
                unit=r.unit,
                likelihood_ratio=None,
                direction="neutral",
                source=r.source,
                note=f"reported, not applied: {r.reason} (higher suggests {r.direction})",
            )
        )
    g = growth_item(case, lesions or {})
    if g is not None:
        items.append(g)
        if isinstance(g.value, float) and g.value <= 0:
            warnings.append(
                "the enhancing lesions are not larger than their nadir: the base rates assume a new or enlarging "
                "lesion (clinical_rules §3.1), so the prior may overstate progression"
            )
    label = label_for(result.value, result.family_log_lr, tab.constants)
    only_prior = not contributions
    site = [c.name for c in me.applied if c.source.startswith("site profile")]
    method = (
        ("prior only: no modifier or marker evidence beyond the base rate; " if only_prior else "")
        + (f"site-calibrated cut-offs for {', '.join(site)}; " if site else "")
        + result.method
    )
    combined_lr = math.exp(result.log_odds_posterior - result.log_odds_prior)
    items.append(
        EvidenceItem(
            name="posterior",
            value=round(result.value, 4),
            unit="probability",
            likelihood_ratio=round(combined_lr, 4),
            direction=label,
            source="fusion (pseudoprog.evidence.fusion); clinical_rules §3.6",
            note=f"95 % interval {result.interval[0]:.2f}-{result.interval[1]:.2f}; "
            f"prior odds {math.exp(result.log_odds_prior):.3g} × combined LR {combined_lr:.3g} = posterior odds "
            f"{math.exp(result.log_odds_posterior):.3g}" + ("; prior only" if only_prior else ""),
        )
    )
    if facts.has_histology:
        warnings.append(
            "histology is reported for this case: it is not folded into the probability; weigh it directly, "
            "remembering sampling error and mixed lesions (clinical_rules §6 C12)"
        )
    probability = ProbabilityEstimate(
        value=result.value,
        interval=result.interval,
        label=label,
        prior=pr.prior.value,
        method=method,
    )
    marker_families = frozenset(c.family for c in me.applied)
    reported_markers = frozenset(m.name for m in latest_markers)
    return EvidenceOutcome(
        probability=probability,
        items=tuple(items),
        warnings=tuple(dict.fromkeys(warnings)),
        facts=facts,
        fusion=result,
        applied=tuple(contributions),
        marker_families=marker_families,
        reported_markers=reported_markers,
    )


def load_profile_table(profile: str | Path | None) -> LikelihoodTable:
    """The accuracy table, with a site profile's rows when ``profile`` is given."""
    base = LikelihoodTable.load()
    if profile is None:
        return base
    from .calibration import read_profile

    return base.with_site_rows(read_profile(profile))
