"""The per-lesion quantitative markers the evidence stage consumes: one name, one unit, one meaning.

Every stage that computes a marker, and every value reported in ``case.yaml``, uses a name from
:data:`MARKERS`, so the evidence stage never has to guess what ``rcbv`` meant or whether an ADC
was in mm²/s or µm²/ms. Thresholds and accuracies are not here: they live in the evidence
stage's sourced data tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..case import Marker


@dataclass(frozen=True)
class MarkerSpec:
    name: str
    unit: str
    description: str
    plausible: tuple[float, float]  # values outside are refused as input errors (wrong unit, typo)
    higher_suggests: str  # "tumour" | "treatment_effect" | "neither" — the direction in the literature


_SPECS = [
    # DSC perfusion (clinical_rules.md §2.1)
    MarkerSpec(
        "rcbv_max",
        "ratio",
        "maximum (robust, 90-95th percentile) leakage-corrected rCBV vs NAWM",
        (0.0, 50.0),
        "tumour",
    ),
    MarkerSpec("rcbv_mean", "ratio", "mean leakage-corrected rCBV vs NAWM", (0.0, 50.0), "tumour"),
    MarkerSpec("rcbf_max", "ratio", "maximum rCBF vs NAWM (DSC)", (0.0, 50.0), "tumour"),
    MarkerSpec(
        "ftb_high",
        "fraction",
        "fractional tumour burden: fraction of the enhancing lesion with rCBV > 1.75",
        (0.0, 1.0),
        "tumour",
    ),
    MarkerSpec(
        "ftb_low", "fraction", "fraction of the enhancing lesion with rCBV < 1.0", (0.0, 1.0), "treatment_effect"
    ),
    MarkerSpec("psr", "fraction", "DSC percentage signal recovery (as a fraction)", (0.0, 2.0), "treatment_effect"),
    # DCE (§2.2)
    MarkerSpec("ktrans_mean", "1/min", "mean Ktrans in the enhancing lesion", (0.0, 5.0), "tumour"),
    MarkerSpec("ktrans_max", "1/min", "90th percentile Ktrans in the enhancing lesion", (0.0, 5.0), "tumour"),
    MarkerSpec("vp_mean", "fraction", "mean plasma volume fraction vp", (0.0, 1.0), "tumour"),
    MarkerSpec("ve_mean", "fraction", "mean extravascular extracellular volume fraction ve", (0.0, 1.0), "neither"),
    # ASL (§2.3)
    MarkerSpec(
        "asl_rcbf_max", "ratio", "maximum ASL CBF in the lesion vs contralateral grey matter", (0.0, 50.0), "tumour"
    ),
    MarkerSpec("asl_cbf_max", "ml/100g/min", "maximum absolute ASL CBF in the lesion", (0.0, 500.0), "tumour"),
    # Diffusion (§2.4)
    MarkerSpec("adc_mean", "mm2/s", "mean ADC of the enhancing lesion", (1e-5, 5e-3), "treatment_effect"),
    MarkerSpec(
        "adc_min", "mm2/s", "minimum (5th percentile) ADC of the enhancing lesion", (1e-5, 5e-3), "treatment_effect"
    ),
    MarkerSpec("radc_mean", "ratio", "mean ADC vs contralateral NAWM", (0.05, 10.0), "treatment_effect"),
    # Spectroscopy (§2.5)
    MarkerSpec("cho_naa", "ratio", "choline / N-acetylaspartate", (0.0, 50.0), "tumour"),
    MarkerSpec("cho_cr", "ratio", "choline / creatine", (0.0, 50.0), "tumour"),
    MarkerSpec("naa_cr", "ratio", "N-acetylaspartate / creatine", (0.0, 50.0), "treatment_effect"),
    MarkerSpec("lipid_lactate_cr", "ratio", "(lipid + lactate) / creatine", (0.0, 100.0), "treatment_effect"),
    # Delayed contrast (§2.6)
    MarkerSpec(
        "tram_clearance_fraction",
        "fraction",
        "fraction of the enhancing lesion that clears contrast by the delayed scan (tumour-like)",
        (0.0, 1.0),
        "tumour",
    ),
    # PET (§2.7)
    MarkerSpec("pet_tbr_max", "ratio", "PET tumour-to-background ratio, maximum", (0.0, 50.0), "tumour"),
    MarkerSpec("pet_tbr_mean", "ratio", "PET tumour-to-background ratio, mean", (0.0, 50.0), "tumour"),
    MarkerSpec("pet_suv_max", "g/ml", "PET SUVmax (body weight)", (0.0, 100.0), "tumour"),
    # PET accuracy depends on the tracer (§2.7): a PET stage sets Marker.quality["tracer"]; a value reported in
    # case.yaml, which cannot carry quality, names the tracer in the marker name.
    # TBR divides by the mean uptake of normal brain (1 by construction); the hottest voxel of an enhancing lesion
    # below half of that mean cannot be a lesion maximum (a TBRmean, a swapped ratio or a typo): the lower bound
    # 0.5 is [DERIVED] (issue 12 review, vignette 81). Reported values only, so no image-derived value is refused.
    MarkerSpec("pet_fet_tbr_max", "ratio", "18F-FET PET tumour-to-background ratio, maximum", (0.5, 50.0), "tumour"),
    # Structural (§2.8, §3.5)
    MarkerSpec("lesion_quotient", "ratio", "T2 nodule area / T1c enhancing area (SRS lesions)", (0.0, 10.0), "tumour"),
    MarkerSpec("oedema_ratio", "ratio", "FLAIR abnormality volume / enhancing volume", (0.0, 1000.0), "neither"),
]

MARKERS: dict[str, MarkerSpec] = {s.name: s for s in _SPECS}


def check_marker_value(name: str, value: float) -> str | None:
    """Return ``None`` if ``value`` is an acceptable value for marker ``name``, else the reason it is not."""
    spec = MARKERS.get(name)
    if spec is None:
        return f"unknown marker '{name}'; known markers: {', '.join(sorted(MARKERS))}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"marker '{name}' must be a number in {spec.unit}, got {type(value).__name__}"
    if not math.isfinite(value):
        return f"marker '{name}' is not a finite number"
    lo, hi = spec.plausible
    if not lo <= value <= hi:
        return f"marker '{name}' = {value} is outside the plausible range {lo}–{hi} {spec.unit} (wrong unit?)"
    return None


# (maximum, mean) pairs of the same quantity: a maximum can never be below the mean of the same lesion.
MAX_MEAN_PAIRS = (("rcbv_max", "rcbv_mean"), ("ktrans_max", "ktrans_mean"), ("pet_tbr_max", "pet_tbr_mean"))
# Fractions of one lesion's voxels in disjoint classes (rCBV > 1.75 and rCBV < 1.0, FTB): they sum to at most 1.
DISJOINT_FRACTIONS = (("ftb_high", "ftb_low"),)


def check_marker_set(values: Mapping[str, float]) -> tuple[str, str, str] | None:
    """A set of one lesion's (or one timepoint's) markers that cannot all be true: ``(field, problem, expected)``.

    ``None`` when the set is possible. Single values are checked by :func:`check_marker_value`.
    """
    for hi_name, lo_name in MAX_MEAN_PAIRS:
        if hi_name in values and lo_name in values and values[hi_name] < values[lo_name]:
            return (
                hi_name,
                f"{hi_name} {values[hi_name]:g} is below {lo_name} {values[lo_name]:g}: a maximum cannot be lower "
                "than the mean",
                f"{hi_name} >= {lo_name}",
            )
    for a, b in DISJOINT_FRACTIONS:
        if a in values and b in values and values[a] + values[b] > 1.0 + 1e-9:
            return (
                a,
                f"{a} {values[a]:g} + {b} {values[b]:g} = {values[a] + values[b]:g} > 1: the two fractions of the "
                "lesion are disjoint and cannot add up to more than the whole",
                f"{a} + {b} <= 1",
            )
    return None


def make_marker(name: str, value: float, *, source: str, lesion_id: str | None = None, **kw) -> Marker:
    """Build a :class:`Marker` with the registry's unit; raises ``ValueError`` for an unknown or implausible value."""
    problem = check_marker_value(name, value)
    if problem:
        raise ValueError(problem)
    return Marker(name=name, value=float(value), unit=MARKERS[name].unit, source=source, lesion_id=lesion_id, **kw)
