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
    # Other kinds the evidence allows (an uncertain call); the reason text names them too.
    alternatives: tuple[SeriesKind, ...] = ()


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


# BraTS file-name suffixes (2021+: t1n/t1c/t2w/t2f; 2015-2020: t1/t1ce/t2/flair) and BIDS suffixes that name
# the contrast on their own. A name's LAST token is checked against these first: the parts before it are a
# patient / case id or a timepoint ("BraTS-MET-00001-000-t2f"), which must never decide.
_SUFFIX_KIND = {
    "t1n": SeriesKind.T1,
    "t1": SeriesKind.T1,
    "t1w": SeriesKind.T1,
    "t1c": SeriesKind.T1C,
    "t1ce": SeriesKind.T1C,
    "t1gd": SeriesKind.T1C,
    "t2w": SeriesKind.T2,
    "t2": SeriesKind.T2,
    "t2f": SeriesKind.FLAIR,
    "flair": SeriesKind.FLAIR,
    "seg": SeriesKind.SEG,
    "dseg": SeriesKind.SEG,
    "mask": SeriesKind.SEG,
    "dwi": SeriesKind.DWI,
    "adc": SeriesKind.ADC,
    "md": SeriesKind.ADC,
    "pet": SeriesKind.PET,
    "asl": SeriesKind.ASL,
    "m0scan": SeriesKind.M0,
    "vfa": SeriesKind.VFA_T1,
}
# BIDS entities whose values describe the image (the others — sub, ses, run, echo … — are identifiers).
_BIDS_DESCRIPTIVE = {"ce", "acq", "rec", "desc", "trc"}
_BIDS_ENTITY = re.compile(r"^[a-zA-Z]+-[a-zA-Z0-9]+$")

# Word rules: (kind, whole tokens any of which decides, punctuated phrases any of which decides). Checked in
# order, so the more specific kinds come first (a "T1 post-contrast delayed" is T1c_delayed, not T1c or T1).
# Only whole tokens of the description / file-name stem count; the phrases all contain punctuation, so they
# cannot hide inside an identifier.
_WORD_RULES: list[tuple[SeriesKind, set[str], tuple[str, ...]]] = [
    (SeriesKind.SEG, {"seg", "mask", "label", "labels", "segmentation", "dseg"}, ()),
    (SeriesKind.MRS, {"svs", "csi", "mrs", "spectroscopy", "press", "steam"}, ()),
    # "met" is not here: it is also the METS of BraTS-METS and "metastasis" abbreviations.
    (SeriesKind.PET, {"pet", "fet", "fdg", "fdopa", "suv"}, ()),
    (SeriesKind.ADC, {"adc", "adcmap", "md", "trace"}, ("apparent diffusion",)),
    (SeriesKind.DWI, {"dwi", "diffusion", "dti", "diff", "tracew"}, ()),
    (SeriesKind.DSC, {"dsc", "pwi", "bolus", "perf", "perfusion", "rcbv", "cbv"}, ("t2*",)),
    (SeriesKind.DCE, {"dce", "dynamic", "twist", "tricks", "disco", "dyn"}, ()),
    (SeriesKind.M0, {"m0", "m0scan"}, ()),
    (SeriesKind.ASL, {"asl", "pcasl", "pasl", "casl", "tgse", "cbf"}, ()),
    (SeriesKind.VFA_T1, {"vfa", "t1map", "despot", "despot1"}, ("t1_map", "flip_angle")),
    (SeriesKind.T1C_DELAYED, {"delayed", "tram", "late"}, ()),
    (SeriesKind.FLAIR, {"flair", "fla", "tirm", "dark", "darkfluid", "t2f"}, ()),
    (
        SeriesKind.T1C,
        {
            "t1c",
            "t1ce",
            "t1gd",
            "gd",
            "gad",
            "gado",
            "gadolinium",
            "gadobutrol",
            "gadoterate",
            "post",
            "postcontrast",
            "contrast",
            "ce",
            "c",
        },
        ("+c", "+gd", "post_gad", "mprage_post"),
    ),
    (SeriesKind.T2, {"t2", "t2w", "tse_t2", "t2_tse"}, ()),
    (SeriesKind.T1, {"t1", "t1w", "t1n", "mprage", "spgr", "bravo", "tfl", "fspgr", "t1_mprage"}, ()),
]

# Words that look like T1c clues but are not on their own ("c" alone matters only next to a T1 word).
_WEAK_T1C = {"c", "ce", "post", "contrast"}
_T1_WORDS = {"t1", "t1w", "t1n", "mprage", "spgr", "bravo", "fspgr", "tfl", "vibe", "se", "tse"}


def significant_text(text: str) -> str:
    """The part of a description or file-name stem that may describe the image.

    A BIDS name keeps its suffix and descriptive entities (``sub-01_ses-post_ce-gadolinium_T1w`` →
    ``gadolinium T1w``); other names are returned whole (their tokens are matched, never substrings).
    """
    parts = [p for p in text.split("_") if p]
    if len(parts) >= 2 and all(_BIDS_ENTITY.match(p) for p in parts[:-1]):
        kept = [p.split("-", 1)[1] for p in parts[:-1] if p.split("-", 1)[0].lower() in _BIDS_DESCRIPTIVE]
        if parts[-1].lower() == "dwi" or not _BIDS_ENTITY.match(parts[-1]):
            return " ".join([*kept, parts[-1]])
    return text


def classify_by_words(text: str) -> Classification | None:
    """Classify from a description or file-name stem alone; ``None`` if the words do not decide.

    Whole tokens only. A known BraTS/BIDS suffix as the last token decides first; then the word rules.
    """
    text = significant_text(text)
    low = text.lower()
    toks = _tokens(low)
    if not toks:
        return None
    last = toks[-1]
    seg_words = set(toks) & _WORD_RULES[0][1]
    if seg_words:
        # A mask of a T1c ("..._mask_native_t1c") is a mask: the object named outranks the contrast it was drawn on.
        return Classification(SeriesKind.SEG, f"description/file name contains {sorted(seg_words)[0]!r}")
    if last in _SUFFIX_KIND and len(toks) > 1:
        kind = _SUFFIX_KIND[last]
        # A contrast entity (ce-gadolinium) turns a T1w into a T1c.
        if kind is SeriesKind.T1 and set(toks[:-1]) & {"gadolinium", "gd", "gad", "gado", "contrast"}:
            return Classification(SeriesKind.T1C, f"name ends in {last!r} with a contrast label")
        return Classification(kind, f"name ends in the suffix {last!r}")
    tokset = set(toks)
    for kind, words, phrases in _WORD_RULES:
        hit_tokens = tokset & words
        hit_phrases = [p for p in phrases if p in low]
        if kind is SeriesKind.T1C:
            strong = hit_tokens - _WEAK_T1C
            t1ish = bool(tokset & _T1_WORDS) or any(t.startswith("t1") for t in toks)
            if not (strong or hit_phrases or (hit_tokens and t1ish)):
                continue
        elif not (hit_tokens or hit_phrases):
            continue
        evidence = sorted(hit_tokens) + hit_phrases
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
    modality: str = "",
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
    if by_words is not None and by_words.kind in _OBJECT_KINDS and modality.upper() not in ("", "OT"):
        # The object type outranks the name: an MR object is never PET/SEG/RTDOSE because of a word.
        ignored = f"{by_words.reason}, but Modality is {modality}"
        if by_physics is not None:
            return _uncertain(by_physics, ignored, (by_words.kind,))
        return Classification(SeriesKind.OTHER, f"{ignored}: not decided", alternatives=(by_words.kind,))
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
        # Several flip angles in one series named like a T1 ("t1_fl3d_vibe") is a VFA series.
        if (
            by_physics is not None
            and by_physics.kind is SeriesKind.VFA_T1
            and by_words.kind in {SeriesKind.T1, SeriesKind.OTHER}
        ):
            return by_physics
        # "Perfusion" alone does not say DSC or DCE; the echo time does.
        if by_words.kind is SeriesKind.DSC and by_physics is not None and by_physics.kind is SeriesKind.DCE:
            return by_physics
        # A T1 named without contrast words but with a contrast agent in the headers is a T1c.
        if by_words.kind is SeriesKind.T1 and params.contrast_agent:
            return Classification(SeriesKind.T1C, by_words.reason + " and a contrast agent is recorded")
        if (
            by_physics is not None
            and by_physics.kind is not by_words.kind
            and by_physics.kind not in _COMPATIBLE.get(by_words.kind, ())
        ):
            return _uncertain(
                by_words, f"the acquisition suggests {by_physics.kind.value} ({by_physics.reason})", (by_physics.kind,)
            )
        return by_words
    if by_physics is not None:
        return by_physics
    return Classification(SeriesKind.OTHER, "neither the description nor the acquisition parameters decide")


# Kinds that only the object type (Modality, SOP class) may give to a DICOM object.
_OBJECT_KINDS = {SeriesKind.PET, SeriesKind.SEG, SeriesKind.RTDOSE, SeriesKind.RTSTRUCT}
# Word kinds that physics cannot tell apart from what it found (T1 physics does not see the contrast agent
# unless recorded; a T2-FLAIR has T2 physics when TI is missing).
_COMPATIBLE: dict[SeriesKind, tuple[SeriesKind, ...]] = {
    SeriesKind.T1C: (SeriesKind.T1,),
    SeriesKind.T1: (SeriesKind.T1C,),
    SeriesKind.T1C_DELAYED: (SeriesKind.T1, SeriesKind.T1C),
    SeriesKind.FLAIR: (SeriesKind.T2,),
    SeriesKind.ADC: (SeriesKind.DWI,),
    SeriesKind.VFA_T1: (SeriesKind.T1,),
    SeriesKind.ASL: (SeriesKind.DSC, SeriesKind.DCE),
    SeriesKind.M0: (SeriesKind.T1, SeriesKind.T2),
}


def _uncertain(chosen: Classification, why: str, alternatives: tuple[SeriesKind, ...]) -> Classification:
    """An uncertain call: the kind chosen, with the alternatives named in the reason ``inspect`` shows."""
    names = ", ".join(k.value for k in alternatives)
    return Classification(
        chosen.kind, f"{chosen.reason}; uncertain — {why}; alternatives: {names}", alternatives=alternatives
    )
