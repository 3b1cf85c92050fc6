"""Issue 12 property tests at the level of a whole case: case.yaml text → validation → criteria → question →
evidence, the path ``pseudoprog assess`` takes without images (the report stage is left out for speed).

* the probability is monotone in each marker's direction;
* moving the scan date by one day never moves the probability by more than 0.05;
* a marker without a likelihood ratio changes nothing;
* concordant evidence never leaves [0.02, 0.98] without histology;
* and the question comes first: a stable lesion gets no probability whatever its markers.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudoprog.criteria import assess_all, to_response_call
from pseudoprog.evidence import evaluate_case
from pseudoprog.ingest import load_case
from pseudoprog.question import decide_question

# marker → (low value, high value, direction: +1 when a higher value suggests tumour)
MARKERS = {
    "rcbv_max": (0.5, 6.0, 1),
    "cho_naa": (0.5, 4.0, 1),
    "pet_fet_tbr_max": (1.0, 4.0, 1),
    "adc_mean": (0.6e-3, 2.0e-3, -1),
}
_RT_END = dt.date(2023, 6, 2)
SETTINGS = settings(max_examples=8, deadline=None)  # each example is a whole case through the flow


def case_doc(*, days_after_rt: int, metastasis: bool, markers: dict[str, float], growth: float = 1.5) -> dict:
    """An enlarging enhancing lesion ``days_after_rt`` days after radiotherapy (or radiosurgery)."""
    if metastasis:
        diagnosis: dict[str, Any] = {"type": "metastasis", "primary": "lung"}
        treatments = [{"type": "srs", "date": _RT_END.isoformat(), "dose_gy": 20, "fractions": 1}]
    else:
        diagnosis = {"type": "glioblastoma", "idh": "wildtype", "mgmt": "unmethylated"}
        treatments = [
            {"type": "surgery", "date": "2023-03-06"},
            {"type": "chemoradiation", "start": "2023-04-21", "end": _RT_END.isoformat(), "dose_gy": 60},
        ]
    first = _RT_END + dt.timedelta(days=min(28, days_after_rt - 14))
    latest = _RT_END + dt.timedelta(days=days_after_rt)
    size = 14.0
    return {
        "patient": {"id": "P", "age": 60},
        "diagnosis": diagnosis,
        "treatments": treatments,
        "timepoints": [
            {
                "date": first.isoformat(),
                "clinical_status": "stable",
                "lesions": [{"id": "L1", "long_mm": size, "perp_mm": size, "longest_diameter_mm": size}],
            },
            {
                "date": latest.isoformat(),
                "clinical_status": "stable",
                "lesions": [
                    {
                        "id": "L1",
                        "long_mm": size * growth,
                        "perp_mm": size * growth,
                        "longest_diameter_mm": size * growth,
                        "location_vs_rt": "in_field",
                    }
                ],
                **({"markers": markers} if markers else {}),
            },
        ],
    }


def answer(doc: dict) -> tuple[float | None, tuple[float, float] | None]:
    """The probability and interval the flow gives for a case document (None when no question is asked)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "case.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        case = load_case(Path(tmp))
    chosen, why, results = assess_all(case, None)
    question = decide_question(case, response=to_response_call(results[chosen], selection_reason=why))
    if not question.asked:
        return None, None
    p = evaluate_case(case, n_draws=300).probability
    return p.value, p.interval


days = st.integers(min_value=30, max_value=700)
kind = st.booleans()


@SETTINGS
@given(days=days, metastasis=kind, name=st.sampled_from(sorted(MARKERS)), a=st.floats(0, 1), b=st.floats(0, 1))
def test_probability_is_monotone_in_each_marker(days, metastasis, name, a, b):
    lo, hi, sign = MARKERS[name]
    x, y = sorted((lo + a * (hi - lo), lo + b * (hi - lo)))
    px, _ = answer(case_doc(days_after_rt=days, metastasis=metastasis, markers={name: x}))
    py, _ = answer(case_doc(days_after_rt=days, metastasis=metastasis, markers={name: y}))
    assert px is not None and py is not None
    assert sign * (py - px) >= -1e-9, f"{name}: P({x:g}) = {px:.4f}, P({y:g}) = {py:.4f}"


@SETTINGS
@given(days=days, metastasis=kind, rcbv=st.one_of(st.none(), st.floats(0.5, 6.0)))
def test_one_day_moves_the_probability_by_at_most_0_05(days, metastasis, rcbv):
    markers = {} if rcbv is None else {"rcbv_max": rcbv}
    p0, _ = answer(case_doc(days_after_rt=days, metastasis=metastasis, markers=markers))
    p1, _ = answer(case_doc(days_after_rt=days + 1, metastasis=metastasis, markers=markers))
    assert p0 is not None and p1 is not None
    assert abs(p1 - p0) <= 0.05


def _markers_without_lr() -> list[str]:
    """Registry markers the accuracy table carries no likelihood ratio for (reported, never weighed)."""
    from pseudoprog.markers import MARKERS as REGISTRY

    base = case_doc(days_after_rt=200, metastasis=False, markers={})
    out = []
    for name, spec in sorted(REGISTRY.items()):
        lo, hi = spec.plausible
        doc = case_doc(days_after_rt=200, metastasis=False, markers={name: lo + 0.3 * (hi - lo)})
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "case.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
            applied = {c.name for c in evaluate_case(load_case(Path(tmp)), n_draws=200).applied}
        if name not in applied:
            out.append(name)
    assert base  # the base document is well formed
    return out


NO_LR = _markers_without_lr()


def test_there_are_markers_without_a_likelihood_ratio_to_check():
    assert NO_LR, "every registry marker has a likelihood ratio: the property below checks nothing"


@SETTINGS
@given(days=days, metastasis=kind, name=st.sampled_from(NO_LR or ["lesion_quotient"]), frac=st.floats(0.05, 0.95))
def test_a_marker_without_a_likelihood_ratio_changes_nothing(days, metastasis, name, frac):
    from pseudoprog.markers import MARKERS as REGISTRY

    lo, hi = REGISTRY[name].plausible
    with_rcbv = {"rcbv_max": 2.5}
    p0, i0 = answer(case_doc(days_after_rt=days, metastasis=metastasis, markers=with_rcbv))
    p1, i1 = answer(
        case_doc(days_after_rt=days, metastasis=metastasis, markers={**with_rcbv, name: lo + frac * (hi - lo)})
    )
    assert p0 == p1 and i0 == i1


@SETTINGS
@given(days=days, metastasis=kind, tumour=st.booleans())
def test_concordant_evidence_stays_within_0_02_and_0_98_without_histology(days, metastasis, tumour):
    side = 1 if tumour else 0
    markers = {name: (hi if (sign > 0) == bool(side) else lo) for name, (lo, hi, sign) in MARKERS.items()}
    p, interval = answer(case_doc(days_after_rt=days, metastasis=metastasis, markers=markers))
    assert p is not None and interval is not None
    assert 0.02 <= interval[0] <= p <= interval[1] <= 0.98
    assert interval[1] - interval[0] > 0.0  # the bound never collapses the interval onto a point


@pytest.mark.parametrize("metastasis", [False, True])
@pytest.mark.parametrize("rcbv", [0.6, 5.0])
def test_a_stable_lesion_gets_no_probability_whatever_its_markers(metastasis, rcbv):
    doc = case_doc(days_after_rt=300, metastasis=metastasis, markers={"rcbv_max": rcbv}, growth=1.0)
    assert answer(doc) == (None, None)
