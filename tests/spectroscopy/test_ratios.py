"""Ratios, fit-quality refusal and metabolite grouping."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pseudoprog.spectroscopy.ratios import compute_ratios, group_estimate
from pseudoprog.spectroscopy.results import FitResult, MetaboliteEstimate


def _fit(**mets: tuple[float, float]) -> FitResult:
    return FitResult(
        source=Path("t.TABLE"),
        fitter="LCModel",
        metabolites={
            k.replace("_", "+"): MetaboliteEstimate(k.replace("_", "+"), c, sd) for k, (c, sd) in mets.items()
        },
    )


def _by_name(fit: FitResult, **kw) -> dict:
    return {r.name: r for r in compute_ratios(fit, **kw)}


def test_ratios_and_combined_sd() -> None:
    r = _by_name(_fit(GPC_PCh=(0.2, 3.0), NAA_NAAG=(0.1, 4.0), Cr_PCr=(0.25, 5.0)))
    assert r["cho_naa"].value == pytest.approx(2.0)
    assert r["cho_cr"].value == pytest.approx(0.8)
    assert r["naa_cr"].value == pytest.approx(0.4)
    assert r["cho_naa"].sd_percent == pytest.approx(5.0)  # 3-4-5: relative SDs in quadrature
    assert "no Lip13" in r["lipid_lactate_cr"].refused


def test_poor_fit_is_refused_with_reason() -> None:
    r = _by_name(_fit(GPC_PCh=(0.2, 3.0), NAA_NAAG=(0.1, 35.0), Cr_PCr=(0.25, 5.0)))
    assert r["cho_naa"].value is None
    assert "tNAA" in r["cho_naa"].refused and "35" in r["cho_naa"].refused and "20 %" in r["cho_naa"].refused
    assert r["cho_cr"].accepted
    # A looser limit accepts it.
    assert _by_name(_fit(GPC_PCh=(0.2, 3.0), NAA_NAAG=(0.1, 35.0), Cr_PCr=(0.25, 5.0)), max_sd_percent=40)[
        "cho_naa"
    ].accepted


def test_components_summed_when_no_total() -> None:
    fit = _fit(GPC=(0.1, 10.0), PCh=(0.1, 10.0), Cr=(0.2, 2.0))
    est = group_estimate(fit, "tCho")
    assert est is not None and est.concentration == pytest.approx(0.2)
    assert est.sd_percent == pytest.approx(100 * math.hypot(0.01, 0.01) / 0.2)
    assert est.names == ("GPC", "PCh")


def test_undefined_sd_or_zero_denominator_refused() -> None:
    r = _by_name(_fit(GPC_PCh=(0.2, 3.0), NAA_NAAG=(0.0, math.inf), Cr_PCr=(0.0, 5.0)))
    assert "undefined" in r["cho_naa"].refused
    assert "zero" in r["cho_cr"].refused


def test_lipid_lactate_sum() -> None:
    r = _by_name(_fit(Lip13a_Lip13b=(0.2, 10.0), Lac=(0.1, 10.0), Cr_PCr=(0.25, 2.0)))
    assert r["lipid_lactate_cr"].value == pytest.approx(1.2)
    assert r["lipid_lactate_cr"].numerator_sd_percent == pytest.approx(100 * math.hypot(0.02, 0.01) / 0.3)


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), 5000.0])
def test_invalid_limit(bad: float) -> None:
    with pytest.raises(ValueError, match="max_sd_percent"):
        compute_ratios(_fit(Cr=(0.2, 2.0)), max_sd_percent=bad)


def test_unknown_group() -> None:
    with pytest.raises(ValueError, match="unknown metabolite group"):
        group_estimate(_fit(Cr=(0.2, 2.0)), "tGlx")
