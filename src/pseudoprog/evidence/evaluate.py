"""One case through the evidence stage: prior, modifiers, markers, fusion, and the recorded steps.

Every step becomes an :class:`~pseudoprog.assessment.EvidenceItem`: the prior (with its base-rate row),
each modifier and marker with its likelihood ratio and how the correlation rule used it, what was reported
but not applied and why, the growth over the timeline, and the posterior.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..assessment import EvidenceItem, ProbabilityEstimate
from ..case import Case, HistologyResult, Lesion, Marker
from ..errors import InputError
from ..markers import check_marker_value
from .fusion import Contribution, FusionResult, fuse
from .likelihoods import LikelihoodTable, MarkerEvidence, marker_evidence
from .priors import CaseFacts, PriorResult, case_facts, compute_prior, fade_weight


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


def label_for(interval: tuple[float, float], family_log_lr: Mapping[str, float], constants: Mapping[str, Any]) -> str:
    """The posterior's label from its 95 % interval (issue 12: labels follow the interval).

    "progression favoured" only when the whole interval lies above ``label_threshold`` (0.5), "treatment effect
    favoured" only when it lies below; otherwise "mixed / indeterminate" when imaging families pull strongly both
    ways (LR beyond ``mixed_family_lr`` and its inverse), else "indeterminate".
    """
    cut = float(constants["label_threshold"])
    strong = math.log(float(constants["mixed_family_lr"]))
    imaging = {k: v for k, v in family_log_lr.items() if not k.startswith("modifier:")}
    pulls_up = any(v >= strong for v in imaging.values())
    pulls_down = any(v <= -strong for v in imaging.values())
    lo, hi = interval
    if pulls_up and pulls_down:
        return "mixed / indeterminate"
    if lo > cut:
        return "progression favoured"
    if hi < cut:
        return "treatment effect favoured"
    return "indeterminate"


def check_plausible(case: Case, markers: Sequence[Marker]) -> None:
    """Refuse a marker set that cannot be true (it would otherwise be weighed): ``InputError`` naming the field.

    Values outside the registry's plausible range (negative CBV, ratios far beyond physiology, wrong units) and
    a maximum below the mean of the same quantity at the same lesion (rCBV max < rCBV mean) are refused.
    """
    where = f"timepoints[{len(case.timepoints) - 1}]"
    for m in markers:
        problem = check_marker_value(m.name, m.value)
        if problem:
            raise InputError(
                problem,
                file="case.yaml",
                field=f"{where}.markers.{m.name}",
                expected=f"a value in the plausible range of {m.name}",
            )
    for hi_name, lo_name in _MAX_MEAN_PAIRS:
        for lesion in {m.lesion_id for m in markers}:
            highs = [m.value for m in markers if m.name == hi_name and m.lesion_id == lesion]
            lows = [m.value for m in markers if m.name == lo_name and m.lesion_id == lesion]
            if highs and lows and max(highs) < min(lows):
                raise InputError(
                    f"{hi_name} {max(highs):g} is below {lo_name} {min(lows):g}"
                    + (f" for lesion {lesion}" if lesion else "")
                    + ": a maximum cannot be lower than the mean",
                    file="case.yaml",
                    field=f"{where}.markers.{hi_name}",
                    expected=f"{hi_name} >= {lo_name}",
                )


# (maximum, mean) pairs of the same quantity: the maximum can never be below the mean.
_MAX_MEAN_PAIRS = (("rcbv_max", "rcbv_mean"), ("ktrans_max", "ktrans_mean"), ("pet_tbr_max", "pet_tbr_mean"))


def _bevacizumab_adjust(
    contributions: Sequence[Contribution], constants: Mapping[str, Any]
) -> tuple[list[Contribution], list[EvidenceItem]]:
    """Down-weight the side of perfusion (low) and diffusion (low ADC) that anti-VEGF therapy mimics."""
    rules = {
        "perfusion": (float(constants["bevacizumab_low_perfusion_weight"]), -1.0, "low perfusion"),
        "diffusion": (float(constants["bevacizumab_low_adc_weight"]), 1.0, "low ADC"),
    }
    out: list[Contribution] = []
    items: list[EvidenceItem] = []
    for c in contributions:
        rule = rules.get(c.family)
        if rule is None or c.kind != "marker":
            out.append(c)
            continue
        w, side, what = rule
        affected = c.log_lr * side > 0
        # Scale only the mimicked side, draw by draw: continuous and monotone in the value.
        draws = np.where(c.draws * side > 0, w * c.draws, c.draws)
        point = w * c.log_lr if affected else c.log_lr
        out.append(dataclasses.replace(c, log_lr=point, draws=draws))
        if affected:
            items.append(
                EvidenceItem(
                    name=f"bevacizumab_{c.name}",
                    value=c.value,
                    unit=c.unit,
                    likelihood_ratio=round(math.exp(point), 4),
                    direction="neutral" if w == 0 else _direction(point),
                    source="clinical_rules §2.1, §2.4, §3.2 [SEED: S2]; weight [DERIVED] (likelihoods.yaml constants)",
                    note=f"{what} under bevacizumab: anti-angiogenic therapy "
                    + (
                        "lowers rCBV whatever the tissue"
                        if c.family == "perfusion"
                        else "can leave coagulative necrosis with low ADC"
                    )
                    + f", so LR {math.exp(c.log_lr):.3g} is down-weighted to LR^{w:g} = {math.exp(point):.3g}",
                )
            )
    return out, items


def latest_histology(case: Case) -> tuple[dt.date, HistologyResult] | None:
    """The most recent coded histology of the current episode (after the last radiation course), if any."""
    end = case.end_of_radiotherapy(before=case.latest.date)
    found: list[tuple[dt.date, HistologyResult]] = [
        (tp.date, tp.histology_result)
        for tp in case.timepoints
        if tp.histology_result in (HistologyResult.TUMOUR, HistologyResult.TREATMENT_EFFECT)
        and (end is None or tp.date >= end)
    ]
    return max(found, key=lambda x: x[0]) if found else None


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


def _latest_markers(case: Case, markers: Mapping[dt.date, Sequence[Marker]] | None) -> list[Marker]:
    """The markers of the latest scan: those passed in, or (none passed) those reported in case.yaml."""
    latest = case.latest
    if markers is None:
        return list(latest.markers.values()) + [m for x in latest.lesions for m in x.markers.values()]
    return list(markers.get(latest.date, ()))


@dataclass(frozen=True)
class _MarkerStep:
    evidence: MarkerEvidence
    contributions: list[Contribution]  # applied markers, after the bevacizumab rule
    bevacizumab_items: list[EvidenceItem]


def _marker_step(
    latest_markers: Sequence[Marker],
    facts: CaseFacts,
    tab: LikelihoodTable,
    *,
    rng: np.random.Generator,
    n_draws: int,
) -> _MarkerStep:
    """Markers to likelihood ratios for the case's population and time window, then the bevacizumab rule."""
    population = "metastasis" if facts.metastasis else "glioma"
    fade = tab.constants["early_window_fade_weeks"]
    early = fade_weight(facts.weeks_since_rt, float(fade[0]), float(fade[1]))
    window = "early" if early >= 0.5 else "late"
    me = marker_evidence(
        latest_markers, population=population, window=window, rng=rng, n_draws=n_draws, table=tab, early_weight=early
    )
    marker_contribs: list[Contribution] = list(me.applied)
    bev_items: list[EvidenceItem] = []
    if facts.bevacizumab:
        marker_contribs, bev_items = _bevacizumab_adjust(marker_contribs, tab.constants)
    return _MarkerStep(evidence=me, contributions=marker_contribs, bevacizumab_items=bev_items)


@dataclass(frozen=True)
class _FusionStep:
    contributions: list[Contribution]  # modifiers, then markers
    result: FusionResult
    rho: float
    bounds: tuple[float, float]


def _fusion_step(
    pr: PriorResult,
    marker_contribs: Sequence[Contribution],
    tab: LikelihoodTable,
    *,
    rng: np.random.Generator,
    naive: bool,
) -> _FusionStep:
    """The prior, its modifiers and the markers fused under the table's correlation and probability bounds."""
    contributions = list(pr.modifiers) + list(marker_contribs)
    rho = float(tab.constants["between_family_correlation"])
    bounds = (float(tab.constants["probability_bounds"][0]), float(tab.constants["probability_bounds"][1]))
    result = fuse(pr.prior, contributions, discount=tab.discount, naive=naive, rho=rho, bounds=bounds, rng=rng)
    return _FusionStep(contributions=contributions, result=result, rho=rho, bounds=bounds)


def _prior_item(pr: PriorResult, facts: CaseFacts) -> EvidenceItem:
    """The base rate with its row and the time since radiotherapy."""
    when = (
        f"{facts.weeks_since_rt:.1f} weeks after {facts.rt_course.split(' ending')[0]}"
        if facts.weeks_since_rt is not None and facts.rt_course
        else "no radiation course before the scan"
    )
    return EvidenceItem(
        name="prior",
        value=round(pr.prior.value, 4),
        unit="probability",
        likelihood_ratio=None,
        direction="prior",
        source=pr.prior.source,
        note=f"base rate {pr.prior.row_id} ({pr.base_row['population']}); {when}; "
        f"95 % interval {pr.prior.interval[0]:.2f}-{pr.prior.interval[1]:.2f}",
    )


def _contribution_items(fused: _FusionStep) -> list[EvidenceItem]:
    """Each applied modifier and marker with how the correlation rule weighted it."""
    weight_of = {w.name: w for w in fused.result.weights}
    items: list[EvidenceItem] = []
    for c in fused.contributions:
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
    return items


def _not_applied_items(pr: PriorResult, me: MarkerEvidence) -> list[EvidenceItem]:
    """Modifiers listed without a verified size, and markers reported without a likelihood ratio."""
    items = [
        EvidenceItem(
            name=lm.id,
            value=lm.finding,
            unit=None,
            likelihood_ratio=None,
            direction=lm.direction,
            source=lm.source,
            note="listed, not applied: no verified size",
        )
        for lm in pr.listed
    ]
    items += [
        EvidenceItem(
            name=r.name,
            value=r.value,
            unit=r.unit,
            likelihood_ratio=None,
            direction="neutral",
            source=r.source,
            note=f"reported, not applied: {r.reason} (higher suggests {r.direction})",
        )
        for r in me.reported
    ]
    return items


def _dependence_item(fused: _FusionStep, marker_contribs: Sequence[Contribution], *, discount: float) -> EvidenceItem:
    """How the imaging families were combined (dependence divisor, heterogeneity, bounds)."""
    result, rho, bounds = fused.result, fused.rho, fused.bounds
    imaging_families = sorted({c.family for c in marker_contribs})
    return EvidenceItem(
        name="dependence_model",
        value=round(result.dependence_divisor, 4),
        unit="divisor of the summed imaging log LR",
        likelihood_ratio=None,
        direction="neutral",
        source=(
            "equicorrelated binormal model, rho "
            f"{rho:g} [DERIVED] from the combination accuracies of the seed review [SEED: S2] "
            "(likelihoods.yaml constants); within a family: strongest per group, later groups "
            f"^{discount:g} (clinical_rules §3.6 rule 1)"
        ),
        note=(
            f"imaging families {', '.join(imaging_families) or 'none'}: summed log LR / (1 + (k - 1) × {rho:g}), "
            f"k = Σ|log LR| / max|log LR| (tests in units of the strongest) = / {result.dependence_divisor:.3g}; "
            "clinical modifiers taken as independent of imaging"
            + (
                f"; families disagree: interval widened (log-odds SD {result.heterogeneity_sd:.2f})"
                if result.heterogeneity_sd > 0
                else ""
            )
            + (
                f"; probability held within [{bounds[0]:g}, {bounds[1]:g}] without histology "
                "(imperfect reference standards, clinical_rules §3.5, §6 C12)"
                if result.bounded
                else f"; probability bounded to [{bounds[0]:g}, {bounds[1]:g}] without histology"
            )
        ),
    )


def _growth_step(case: Case, lesions: Mapping[dt.date, Sequence[Lesion]]) -> tuple[list[EvidenceItem], list[str]]:
    """The growth item, and a warning when the lesions are not larger than their nadir."""
    g = growth_item(case, lesions)
    if g is None:
        return [], []
    if isinstance(g.value, float) and g.value <= 0:
        return [g], [
            "the enhancing lesions are not larger than their nadir: the base rates assume a new or enlarging "
            "lesion (clinical_rules §3.1), so the prior may overstate progression"
        ]
    return [g], []


def _imaging_method(fused: _FusionStep, me: MarkerEvidence) -> str:
    """How the imaging estimate was made: prior only, site cut-offs, then the fusion's method."""
    only_prior = not fused.contributions
    site = [c.name for c in me.applied if c.source.startswith("site profile")]
    return (
        ("prior only: no modifier or marker evidence beyond the base rate; " if only_prior else "")
        + (f"site-calibrated cut-offs for {', '.join(site)}; " if site else "")
        + fused.result.method
    )


def _posterior_item(result: FusionResult, *, label: str, only_prior: bool) -> EvidenceItem:
    """The fused posterior with prior odds × combined LR."""
    combined_lr = math.exp(result.log_odds_posterior - result.log_odds_prior)
    return EvidenceItem(
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


def _histology_step(
    case: Case,
    facts: CaseFacts,
    result: FusionResult,
    *,
    label: str,
    method: str,
    prior: float,
    constants: Mapping[str, Any],
) -> tuple[ProbabilityEstimate, list[EvidenceItem], list[str]]:
    """The final estimate: coded histology replaces the imaging estimate; free-text histology only warns."""
    value, interval = result.value, result.interval
    items: list[EvidenceItem] = []
    warnings: list[str] = []
    hist = latest_histology(case)
    if hist is not None:
        key = f"histology_{hist[1].value}_probability"
        v, lo, hi = (float(x) for x in constants[key])
        value, interval = v, (lo, hi)
        label = label_for(interval, {}, constants)
        what = "viable tumour" if hist[1] is HistologyResult.TUMOUR else "treatment effect only"
        method = (
            f"histology on {hist[0]} showed {what}: the reference standard replaces the imaging estimate "
            f"(imaging alone gave {result.value:.2f})"
            + (
                ""
                if hist[1] is HistologyResult.TUMOUR
                else "; not zero: a negative biopsy does not exclude progression (sampling error, mixed lesions, "
                "clinical_rules §6 C12)"
            )
        )
        items.append(
            EvidenceItem(
                name="histology",
                value=hist[1].value,
                unit=None,
                likelihood_ratio=None,
                direction="tumour" if hist[1] is HistologyResult.TUMOUR else "treatment_effect",
                source="likelihoods.yaml constants " + key + " [DERIVED]; clinical_rules §6 C12 [SEED: S5]",
                note=method,
            )
        )
    elif facts.has_histology:
        warnings.append(
            "histology is reported as free text only: it is not folded into the probability; code it as "
            "histology_result (tumour | treatment_effect) or weigh it directly (clinical_rules §6 C12)"
        )
    probability = ProbabilityEstimate(value=value, interval=interval, label=label, prior=prior, method=method)
    return probability, items, warnings


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
    # One generator, drawn in a fixed order (prior, markers, fusion): the same case gives the same interval.
    rng = np.random.default_rng(seed)
    latest = case.latest
    facts = case_facts(case, lesions=(lesions or {}).get(latest.date, latest.lesions))
    pr = compute_prior(facts, rng=rng, n_draws=n)
    latest_markers = _latest_markers(case, markers)
    check_plausible(case, latest_markers)
    mk = _marker_step(latest_markers, facts, tab, rng=rng, n_draws=n)
    fused = _fusion_step(pr, mk.contributions, tab, rng=rng, naive=naive)
    result = fused.result

    growth_items, growth_warnings = _growth_step(case, lesions or {})
    label = label_for(result.interval, result.family_log_lr, tab.constants)
    probability, hist_items, hist_warnings = _histology_step(
        case,
        facts,
        result,
        label=label,
        method=_imaging_method(fused, mk.evidence),
        prior=pr.prior.value,
        constants=tab.constants,
    )
    items = [
        _prior_item(pr, facts),
        *_contribution_items(fused),
        *_not_applied_items(pr, mk.evidence),
        *mk.bevacizumab_items,
        _dependence_item(fused, mk.contributions, discount=tab.discount),
        *growth_items,
        _posterior_item(result, label=label, only_prior=not fused.contributions),
        *hist_items,
    ]
    warnings = [*mk.evidence.warnings, *growth_warnings, *hist_warnings]
    return EvidenceOutcome(
        probability=probability,
        items=tuple(items),
        warnings=tuple(dict.fromkeys(warnings)),
        facts=facts,
        fusion=result,
        applied=tuple(fused.contributions),
        marker_families=frozenset(c.family for c in mk.evidence.applied),
        reported_markers=frozenset(m.name for m in latest_markers),
    )


def load_profile_table(profile: str | Path | None) -> LikelihoodTable:
    """The accuracy table, with a site profile's rows when ``profile`` is given."""
    base = LikelihoodTable.load()
    if profile is None:
        return base
    from .calibration import read_profile

    return base.with_site_rows(read_profile(profile))
