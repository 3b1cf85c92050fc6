"""Texture: per-lesion radiomics features on T1c, FLAIR, ADC and the DSC rCBV map (found by Quantity)."""

from __future__ import annotations

from ..case import SeriesKind, Volume
from ..errors import CannotAssessError, InputError
from ..handoff import Quantity, StageOutput, TimepointInputs
from ..markers.texture import TextureTable


def build(inputs: TimepointInputs) -> StageOutput:
    """Feature rows of this timepoint in ``out.results[TextureTable]``; the runner writes the case's table."""
    from ..ingest import load_series
    from ..texture import lesion_texture_rows, pyradiomics_available
    from ..texture.features import INSTALL_HINT

    out = StageOutput()
    tp, date = inputs.timepoint, inputs.date
    sources = {"T1c": tp.series_of(SeriesKind.T1C), "FLAIR": tp.series_of(SeriesKind.FLAIR)}
    sources["ADC"] = tp.series_of(SeriesKind.ADC)
    rcbv = inputs.map(Quantity.RCBV)
    if not any(sources.values()) and rcbv is None:
        return out
    if not inputs.lesion_masks:
        raise CannotAssessError("per-lesion texture needs lesion masks, and the lesions stage gave none")
    if not pyradiomics_available():
        raise CannotAssessError(f"cannot assess texture: pyradiomics not installed ({INSTALL_HINT})")
    images: dict[str, Volume] = {}
    for name, found in sources.items():
        if found:
            try:
                images[name], _ = load_series(found[0])
            except InputError as exc:
                out.skip("texture", f"{name} not read: {exc}", timepoint=date)
    if rcbv is not None:
        images["rCBV"] = Volume(rcbv.array, rcbv.affine, series_uid=rcbv.series_uid or "rcbv")
    images = {k: v for k, v in images.items() if not v.is_dynamic}
    rows, settings, notes = lesion_texture_rows(images, inputs.lesion_masks, date=date)
    for note in notes:
        out.skip("texture", note, timepoint=date)
    if rows:
        out.results[TextureTable] = TextureTable(rows=rows, settings={date: settings})
    return out
