"""Series classification: which kind of image a series is (T1, T1c, FLAIR, DSC, ...).

Order of evidence, strongest first:

1. the user's override in ``case.yaml`` (never second-guessed);
2. the object type (Modality, SOP Class: RTDOSE, RTSTRUCT, SEG, PET, MR spectroscopy);
3. explicit words in the description / file name (``FLAIR``, ``T1 post gad``, ``ADC``, BIDS suffixes);
4. the physics of the acquisition (TE, TR, TI, flip angle, b-values, number of dynamics, contrast tag).

The rule that decided is returned with the kind, so a reader can see why a series was taken as
what it was and override it when the site's naming fools the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..case import AcquisitionParams, SeriesKind

# DICOM SOP classes that decide the kind on their own.
SOP_MR_SPECTROSCOPY = "1.2.840.10008.5.1.4.1.1.4.2"
SOP_SIEMENS_CSA_NON_IMAGE = "1.3.12.2.1107.5.9.1"  # Siemens spectroscopy in .IMA files
SOP_SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
SOP_RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
SOP_RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
SOP_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
SOP_LEGACY_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.4"

_MODALITY_KIND = {
    "RTDOSE": SeriesKind.RTDOSE,
    "RTSTRUCT": SeriesKind.RTSTRUCT,
    "SEG": SeriesKind.SEG,
    "PT": SeriesKind.PET,
}
_SOP_KIND = {
    SOP_MR_SPECTROSCOPY: SeriesKind.MRS,
    SOP_SIEMENS_CSA_NON_IMAGE: SeriesKind.MRS,
    SOP_SEGMENTATION: SeriesKind.SEG,
    SOP_RT_DOSE: SeriesKind.RTDOSE,
    SOP_RT_STRUCT: SeriesKind.RTSTRUCT,
}


@dataclass(frozen=True)
class Classification:
    kind: SeriesKind
    reason: str


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", text.lower()) if t}


# Word rules: (kind, tokens any of which decides, substrings any of which decides). Checked in order,
# so the more specific kinds come first (a "T1 post-contrast delayed" is T1c_delayed, not T1c or T1).
_WORD_RULES: list[tuple[SeriesKind, set[str], tuple[str, ...]]] = [
    (SeriesKind.SEG, {"seg", "mask", "label", "labels", "segmentation", "dseg"}, ()),
    (SeriesKind.MRS, {"svs", "csi", "mrs", "spectroscopy", "press", "steam"}, ()),
    (SeriesKind.PET, {"pet", "fet", "fdg", "met", "fdopa", "suv"}, ()),
    (SeriesKind.ADC, {"adc", "adcmap", "md", "trace"}, ("apparent diffusion",)),
    (SeriesKind.DWI, {"dwi", "diffusion", "dti", "ep2d_diff", "diff"}, ("ep2d_diff",)),
    (SeriesKind.DSC, {"dsc", "pwi", "bolus", "perf", "perfusion", "rcbv", "cbv"}, ("ep2d_perf", "dsc", "t2*")),
    (SeriesKind.DCE, {"dce", "dynamic", "twist", "tricks", "disco", "dyn"}, ("dce",)),
    (SeriesKind.M0, {"m0", "m0scan"}, ()),
    (SeriesKind.ASL, {"asl", "pcasl", "pasl", "casl", "tgse", "cbf"}, ("asl",)),
    (SeriesKind.VFA_T1, {"vfa", "t1map", "despot", "despot1"}, ("vfa", "t1_map", "flip_angle")),
    (SeriesKind.T1C_DELAYED, {"delayed", "tram", "late"}, ()),
    (SeriesKind.FLAIR, {"flair", "fla", "tirm", "dark", "darkfluid"}, ("flair",)),
    (
        SeriesKind.T1C,
        {"t1c", "t1ce", "t1gd", "gd", "gad", "post", "postcontrast", "contrast", "ce", "c"},
        ("+c", "+gd", "post_gad", "postgad", "t1c", "t1ce", "ce-gad", "ce_", "mprage_post"),
    ),
    (SeriesKind.T2, {"t2", "t2w", "tse_t2", "t2_tse"}, ("t2w", "t2_", "_t2")),
    (
        SeriesKind.T1,
        {"t1", "t1w", "mprage", "spgr", "bravo", "tfl", "fspgr", "t1_mprage", "pre"},
        ("t1w", "t1_", "_t1", "mprage"),
    ),
]

# Words that look like T1c clues but are not on their own ("c" alone matters only next to t1).
_WEAK_T1C = {"c", "ce", "post", "contrast"}


def classify_by_words(text: str) -> Classification | None:
    """Classify from a description or file name alone; ``None`` if the words do not decide."""
    low = text.lower()
    toks = _tokens(low)
    for kind, words, subs in _WORD_RULES:
        hit_tokens = toks & words
        hit_subs = [s for s in subs if s in low]
        if kind is SeriesKind.T1C:
            strong = hit_tokens - _WEAK_T1C
            t1ish = bool(toks & {"t1", "t1w", "mprage", "spgr", "bravo", "fspgr", "tfl", "vibe", "se"}) or "t1" in low
            if not (strong or hit_subs or (hit_tokens and t1ish)):
                continue
        elif not (hit_tokens or hit_subs):
            continue
        evidence = sorted(hit_tokens) + hit_subs
        return Classification(kind, f"description/file name contains {evidence[0]!r}")
    return None


def classify_by_physics(params: AcquisitionParams, *, n_frames: int) -> Classification | None:
    """Classify from the acquisition itself (TE, TR, TI, b-values, flip angles, dynamics)."""
    te, tr, ti = params.echo_time_ms, params.repetition_time_ms, params.inversion_time_ms
    seq = (params.scanning_sequence or "").upper()
    itype = {t.upper() for t in params.image_type}
    if "ADC" in itype:
        return Classification(SeriesKind.ADC, "ImageType contains ADC")
    if len(params.b_values_s_per_mm2) > 1 or any(b > 0 for b in params.b_values_s_per_mm2):
        return Classification(SeriesKind.DWI, "diffusion b-values in the headers")
    if len(set(params.flip_angles_deg)) > 1:
        return Classification(SeriesKind.VFA_T1, "several flip angles in one series")
    if n_frames >= 10 and te is not None:
        if te >= 15:
            return Classification(SeriesKind.DSC, f"dynamic series ({n_frames} frames) with TE {te:g} ms ≥ 15 ms")
        if tr is not None and tr < 15:
            return Classification(SeriesKind.DCE, f"dynamic series ({n_frames} frames), TE {te:g} ms, TR {tr:g} ms")
    if ti is not None and ti >= 1500 and (tr or 0) >= 4000:
        return Classification(SeriesKind.FLAIR, f"inversion time {ti:g} ms ≥ 1500 ms with long TR")
    if te is not None and tr is not None:
        if te >= 60 and tr >= 2000:
            return Classification(SeriesKind.T2, f"TE {te:g} ms and TR {tr:g} ms (T2-weighted)")
        if te <= 30 and (tr <= 1000 or (ti is not None and 600 <= ti <= 1300) or "IR" in seq):
            contrast = bool(params.contrast_agent)
            kind = SeriesKind.T1C if contrast else SeriesKind.T1
            why = "with a contrast agent recorded" if contrast else "no contrast agent recorded"
            return Classification(kind, f"TE {te:g} ms and TR {tr:g} ms (T1-weighted), {why}")
    return None


def classify(
    *,
    description: str,
    params: AcquisitionParams,
    n_frames: int = 1,
    modality: str = "MR",
    sop_class_uid: str | None = None,
) -> Classification:
    """Decide the kind of a series from its object type, description and acquisition.

    Examples
    --------
    >>> from pseudoprog.case import AcquisitionParams
    >>> classify(description="AX FLAIR", params=AcquisitionParams()).kind
    <SeriesKind.FLAIR: 'FLAIR'>
    """
    if sop_class_uid in _SOP_KIND:
        return Classification(_SOP_KIND[sop_class_uid], f"SOP class {sop_class_uid}")
    if modality.upper() in _MODALITY_KIND:
        return Classification(_MODALITY_KIND[modality.upper()], f"modality {modality}")
    by_words = classify_by_words(description) if description else None
    by_physics = classify_by_physics(params, n_frames=n_frames)
    if by_words is not None:
        # A dynamic series named like a T1 ("T1 perfusion") is still a dynamic series: physics wins
        # when it found a dynamic acquisition and the words named a static one.
        dynamic_kinds = {SeriesKind.DSC, SeriesKind.DCE, SeriesKind.ASL}
        if (
            by_physics is not None
            and by_physics.kind in dynamic_kinds
            and by_words.kind in {SeriesKind.T1, SeriesKind.T1C, SeriesKind.T2}
        ):
            return by_physics
        # "Perfusion" alone does not say DSC or DCE; the echo time does.
        if by_words.kind is SeriesKind.DSC and by_physics is not None and by_physics.kind is SeriesKind.DCE:
            return by_physics
        # A T1 named without contrast words but with a contrast agent in the headers is a T1c.
        if by_words.kind is SeriesKind.T1 and params.contrast_agent:
            return Classification(SeriesKind.T1C, by_words.reason + " and a contrast agent is recorded")
        return by_words
    if by_physics is not None:
        return by_physics
    return Classification(SeriesKind.OTHER, "neither the description nor the acquisition parameters decide")
