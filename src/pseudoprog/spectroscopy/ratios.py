"""Metabolite ratios (Cho/NAA, Cho/Cr, NAA/Cr, (Lip+Lac)/Cr) from a fit, with the fit quality carried along.

A ratio is refused, with the reason, when any metabolite group in it has a relative Cramér-Rao lower
bound above the quality limit, or when its denominator is zero. The limits and the metabolite groups
are in ``data/spectroscopy.yaml`` with their sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..files import load_table
from .results import FitResult


@cache
def spectroscopy_table() -> dict[str, Any]:
    """The spectroscopy constants (``data/spectroscopy.yaml``)."""
    return load_table("spectroscopy", "spectroscopy")


@dataclass(frozen=True)
class GroupEstimate:
    """A metabolite group's total (e.g. tCho) and its relative SD, with the fitter names it came from."""

    group: str
    concentration: float
    sd_percent: float
    names: tuple[str, ...]


@dataclass(frozen=True)
class RatioResult:
    """One ratio: its value when acceptable, its combined relative SD, and the reason when refused."""

    name: str  # marker name, e.g. "cho_naa"
    value: float | None  # None when refused
    sd_percent: float  # combined relative SD of the ratio (quadrature of the groups' relative SDs)
    numerator: tuple[GroupEstimate, ...]
    denominator: GroupEstimate | None
    refused: str | None = None  # why the ratio is not given
    numerator_sd_percent: float = math.inf  # relative SD of the numerator total (groups summed)

    @property
    def accepted(self) -> bool:
        return self.refused is None


def group_estimate(fit: FitResult, group: str) -> GroupEstimate | None:
    """The total of a metabolite group in a fit: the fitter's own combination if reported, else the sum of the
    components it reports (absolute SDs added in quadrature). ``None`` when the fit has none of its names."""
    spec = spectroscopy_table()["groups"].get(group)
    if spec is None:
        raise ValueError(f"unknown metabolite group '{group}'; known: {', '.join(spectroscopy_table()['groups'])}")
    for name in spec["totals"]:
        est = fit.metabolites.get(name)
        if est is not None:
            return GroupEstimate(group, est.concentration, est.sd_percent, (name,))
    parts = [fit.metabolites[n] for n in spec["components"] if n in fit.metabolites]
    if not parts:
        return None
    total = sum(p.concentration for p in parts)
    abs_sd = [p.concentration * p.sd_percent / 100.0 if math.isfinite(p.sd_percent) else math.inf for p in parts]
    if any(math.isinf(s) for s in abs_sd) or total <= 0:
        sd_pct = math.inf
    else:
        sd_pct = 100.0 * math.sqrt(sum(s * s for s in abs_sd)) / total
    return GroupEstimate(group, total, sd_pct, tuple(p.name for p in parts))


def _sum_groups(group: str, parts: list[GroupEstimate]) -> GroupEstimate:
    total = sum(p.concentration for p in parts)
    abs_sd = [p.concentration * p.sd_percent / 100.0 if math.isfinite(p.sd_percent) else math.inf for p in parts]
    if total <= 0 or any(math.isinf(s) for s in abs_sd):
        return GroupEstimate(group, total, math.inf, tuple(n for p in parts for n in p.names))
    sd = 100.0 * math.sqrt(sum(s * s for s in abs_sd)) / total
    return GroupEstimate(group, total, sd, tuple(n for p in parts for n in p.names))


def compute_ratios(fit: FitResult, *, max_sd_percent: float | None = None) -> list[RatioResult]:
    """Every ratio of ``data/spectroscopy.yaml`` for one fit, accepted or refused with the reason.

    Parameters
    ----------
    fit
        One voxel's fit result.
    max_sd_percent
        Quality limit on each group's relative SD (%SD / CRLB); default from the data table (20 %).

    Examples
    --------
    Usage (not run as a doctest: it needs a real case or file)::

        [r.value for r in compute_ratios(fit) if r.name == "cho_naa"]
        # → [0.777]
    """
    table = spectroscopy_table()
    limit = float(table["quality"]["max_sd_percent"]) if max_sd_percent is None else float(max_sd_percent)
    if not (0.0 < limit <= 1000.0) or math.isnan(limit):
        raise ValueError(f"max_sd_percent must be in (0, 1000], got {max_sd_percent}")
    out: list[RatioResult] = []
    for name, spec in table["ratios"].items():
        found = {g: group_estimate(fit, g) for g in [*spec["numerator"], spec["denominator"]]}
        missing = [g for g, est in found.items() if est is None]
        if missing:
            out.append(
                RatioResult(
                    name, None, math.inf, (), None, refused=f"the fit reports no {' or '.join(missing)} ({fit.fitter})"
                )
            )
            continue
        num_parts = [found[g] for g in spec["numerator"]]
        den = found[spec["denominator"]]
        assert den is not None
        numerator = num_parts[0] if len(num_parts) == 1 else _sum_groups("+".join(spec["numerator"]), num_parts)  # type: ignore[arg-type]
        assert numerator is not None
        ratio_sd = math.hypot(numerator.sd_percent, den.sd_percent)
        reasons = [
            f"{g.group} ({'+'.join(g.names)}) %SD {_fmt_sd(g.sd_percent)} > {limit:g} %"
            for g in (numerator, den)
            if not g.sd_percent <= limit
        ]
        if den.concentration <= 0:
            reasons.append(f"{den.group} is zero")
        refused = ("poor fit: " + "; ".join(reasons)) if reasons else None
        value = None if refused else numerator.concentration / den.concentration
        out.append(
            RatioResult(
                name,
                value,
                ratio_sd,
                tuple(num_parts),  # type: ignore[arg-type]
                den,
                refused=refused,
                numerator_sd_percent=numerator.sd_percent,
            )
        )
    return out


def _fmt_sd(value: float) -> str:
    return "undefined" if math.isinf(value) else f"{value:.3g} %"
