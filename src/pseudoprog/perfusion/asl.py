"""Single-PLD ASL: CBF in ml/100 g/min with the white-paper single-compartment model (clinical_rules.md §5.3).

pCASL (Alsop et al., MRM 2015;73:102–116):

    CBF = 6000 · λ · ΔM · exp(PLD / T1b) / (2 · α · T1b · M0 · (1 − exp(−τ / T1b)))

PASL with QUIPSS II / Q2TIPS bolus cut-off (TI1):

    CBF = 6000 · λ · ΔM · exp(TI / T1b) / (2 · α · TI1 · M0)

ΔM = control − label (averaged over pairs); M0 from a separate proton-density scan or M0 frames in the series.
λ, T1 of blood, α and the default timing come from ``perfusion/data/asl_constants.yaml``. The model assumes the
label stays in blood and relaxes with T1 of blood, and that the bolus has fully arrived by the readout
(PLD > arterial transit time); these are the white paper's simplifications.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..align.brainmask import bright_signal_mask
from ..errors import CannotAssessError, InputError
from .tables import field_key, load_table

LABELLING_TYPES = ("PCASL", "PASL")


@dataclass(frozen=True)
class AslResult:
    cbf_ml_100g_min: np.ndarray
    delta_m: np.ndarray
    m0: np.ndarray
    brain: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def cbf_single_pld(
    delta_m: np.ndarray,
    m0: np.ndarray,
    *,
    labelling: str,
    pld_s: float,
    label_duration_s: float | None = None,
    bolus_cutoff_s: float | None = None,
    t1_blood_s: float,
    efficiency: float,
    partition_coefficient: float,
) -> np.ndarray:
    """CBF (ml/100 g/min) from ΔM and M0 with the white-paper model; NaN where M0 ≤ 0.

    For ``labelling="PASL"``, ``pld_s`` is the inversion time TI and ``bolus_cutoff_s`` is TI1.
    """
    kind = labelling.upper()
    if kind not in LABELLING_TYPES:
        raise ValueError(f"labelling must be one of {', '.join(LABELLING_TYPES)}, got {labelling!r}")
    for name, v in (("pld_s", pld_s), ("t1_blood_s", t1_blood_s), ("partition_coefficient", partition_coefficient)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v}")
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1], got {efficiency}")
    m0 = np.asarray(m0, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "PCASL":
            if label_duration_s is None or not label_duration_s > 0:
                raise ValueError("pCASL needs a positive label_duration_s")
            den = 2 * efficiency * t1_blood_s * m0 * (1 - np.exp(-label_duration_s / t1_blood_s))
        else:
            if bolus_cutoff_s is None or not bolus_cutoff_s > 0:
                raise ValueError("PASL needs a positive bolus_cutoff_s (TI1)")
            den = 2 * efficiency * bolus_cutoff_s * m0
        cbf = 6000.0 * partition_coefficient * delta_m * np.exp(pld_s / t1_blood_s) / den
    return np.where(m0 > 0, cbf, np.nan)


def read_asl_context(image_file: Path) -> list[str] | None:
    """Volume types of a BIDS ASL series from ``<stem>_aslcontext.tsv`` / ``aslcontext.tsv`` beside it, if present."""
    stem = image_file.name
    for suffix in (".nii.gz", ".nii"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    base = stem[: -len("_asl")] if stem.endswith("_asl") else stem
    for cand in (image_file.with_name(base + "_aslcontext.tsv"), image_file.with_name("aslcontext.tsv")):
        if cand.exists():
            lines = [ln.strip() for ln in cand.read_text().splitlines() if ln.strip()]
            if not lines or lines[0].lower() != "volume_type":
                raise InputError("aslcontext.tsv must start with a 'volume_type' header", file=cand)
            return [ln.lower() for ln in lines[1:]]
    return None


def split_volumes(data: np.ndarray, context: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """ΔM (control − label, mean over pairs) and any M0 frames of a 4D ASL series.

    Without a context, frames alternate; which of each pair is the control is decided from the data (the control
    is brighter in brain tissue), and the decision is reported.
    """
    if data.ndim != 4:
        raise InputError(f"an ASL series must be 4D (x, y, z, volumes), got shape {data.shape}")
    n = data.shape[-1]
    if context is not None:
        if len(context) != n:
            raise InputError(f"aslcontext lists {len(context)} volumes for {n} in the image", field="volume_type")
        ctx = np.array(context)
        m0 = data[..., ctx == "m0scan"].mean(-1) if np.any(ctx == "m0scan") else None
        if np.any(ctx == "deltam"):
            return data[..., ctx == "deltam"].mean(-1), m0, "ΔM volumes from aslcontext"
        c, lab = ctx == "control", ctx == "label"
        if not c.any() or not lab.any():
            raise CannotAssessError("the ASL series has no control/label pair (aslcontext)")
        return data[..., c].mean(-1) - data[..., lab].mean(-1), m0, "control/label from aslcontext"
    if n < 2 or n % 2:
        raise CannotAssessError(
            f"the ASL series has {n} volumes and no aslcontext: cannot pair control and label images"
        )
    even, odd = data[..., 0::2].mean(-1), data[..., 1::2].mean(-1)
    bright = even > np.percentile(even, 75)
    if (even - odd)[bright].mean() >= 0:
        return even - odd, None, "no aslcontext: control = even volumes (brighter in tissue)"
    return odd - even, None, "no aslcontext: control = odd volumes (brighter in tissue)"


def compute_asl_cbf(
    asl: np.ndarray,
    *,
    m0: np.ndarray | None,
    metadata: Mapping[str, Any],
    field_strength_t: float | None,
    context: Sequence[str] | None = None,
    m0_tr_s: float | None = None,
    file: str | None = None,
) -> AslResult:
    """CBF map of a single-PLD ASL series.

    Parameters
    ----------
    asl
        4D series of control/label (and possibly M0 or ΔM) volumes.
    m0
        Separate M0 image on the same grid, or None (then M0 volumes must be in the series).
    metadata
        BIDS ASL fields: ``ArterialSpinLabelingType`` (PCASL/PASL), ``PostLabelingDelay`` (s; TI for PASL),
        ``LabelingDuration`` (s), ``BolusCutOffDelayTime`` (s, PASL TI1), ``LabelingEfficiency`` (optional).
    field_strength_t
        Selects T1 of blood.
    context
        Volume types (BIDS aslcontext) or None.
    m0_tr_s
        TR of the M0 scan, to warn when it is too short for full relaxation.
    """
    table = load_table("asl_constants")
    warnings: list[str] = []
    kind = str(metadata.get("ArterialSpinLabelingType") or "").upper()
    if kind not in LABELLING_TYPES:
        raise CannotAssessError(
            f"ASL labelling type {kind or 'not recorded'}: CBF is computed for "
            f"{' and '.join(LABELLING_TYPES)} (BIDS 'ArterialSpinLabelingType')"
        )
    defaults = table["defaults"]
    pld = metadata.get("PostLabelingDelay")
    if isinstance(pld, list):
        if len(set(pld)) > 1:
            raise CannotAssessError("multi-PLD ASL is not supported: single-PLD quantification only")
        pld = pld[0]
    if pld is None:
        pld = defaults["post_labelling_delay_s"]
        warnings.append(f"PostLabelingDelay not recorded: {pld} s assumed ({defaults['source']})")
    tau = metadata.get("LabelingDuration")
    if kind == "PCASL" and tau is None:
        tau = defaults["label_duration_s"]
        warnings.append(f"LabelingDuration not recorded: {tau} s assumed ({defaults['source']})")
    ti1 = metadata.get("BolusCutOffDelayTime")
    if isinstance(ti1, list):
        ti1 = ti1[0]
    if kind == "PASL" and ti1 is None:
        ti1 = defaults["pasl_bolus_cutoff_s"]
        warnings.append(f"BolusCutOffDelayTime (TI1) not recorded: {ti1} s assumed")
    key = field_key(field_strength_t)
    t1b = float(table["blood_t1_s"][key])
    alpha = float(metadata.get("LabelingEfficiency") or table["labelling_efficiency"][kind])
    lam = float(table["partition_coefficient_ml_per_g"]["value"])
    if not np.all(np.isfinite(asl)):
        raise InputError("the ASL series contains NaN or infinite values", file=file, expected="finite signal")
    delta_m, m0_in_series, how = split_volumes(asl, context)
    if m0 is None:
        m0 = m0_in_series
    if m0 is None:
        raise CannotAssessError(
            "no M0 image: absolute CBF needs a separate M0 scan or M0 volumes in the ASL series (BIDS M0Type)"
        )
    if m0.ndim == 4:
        m0 = m0.mean(-1)
    if m0.shape != delta_m.shape:
        raise InputError(f"M0 shape {m0.shape} does not match the ASL grid {delta_m.shape}", file=file, field="M0")
    if m0_tr_s is not None and m0_tr_s < table["m0_min_tr_s"]:
        warnings.append(f"M0 TR {m0_tr_s:g} s < {table['m0_min_tr_s']} s: M0 is underestimated and CBF overestimated")
    brain = bright_signal_mask(m0, fraction=table["brain_fraction_of_m0_p90"])
    cbf = cbf_single_pld(
        delta_m,
        m0,
        labelling=kind,
        pld_s=float(pld),
        label_duration_s=None if tau is None else float(tau),
        bolus_cutoff_s=None if ti1 is None else float(ti1),
        t1_blood_s=t1b,
        efficiency=alpha,
        partition_coefficient=lam,
    )
    cbf = np.where(brain, cbf, np.nan)
    params = {
        "model": "single-compartment white-paper model (Alsop et al., MRM 2015)",
        "labelling": kind,
        "post_labelling_delay_s": float(pld),
        "label_duration_s": None if tau is None else float(tau),
        "bolus_cutoff_ti1_s": None if ti1 is None else float(ti1),
        "t1_blood_s": t1b,
        "t1_blood_source": table["blood_t1_s"]["source"],
        "labelling_efficiency": alpha,
        "labelling_efficiency_source": "sidecar"
        if metadata.get("LabelingEfficiency")
        else table["labelling_efficiency"]["source"],
        "partition_coefficient_ml_per_g": lam,
        "partition_coefficient_source": table["partition_coefficient_ml_per_g"]["source"],
        "control_label": how,
        "m0": "separate M0 series" if m0_in_series is None else "M0 volumes in the ASL series",
    }
    return AslResult(
        cbf_ml_100g_min=cbf, delta_m=delta_m, m0=m0, brain=brain, parameters=params, warnings=tuple(warnings)
    )
