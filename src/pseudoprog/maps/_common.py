"""What the map builders share: choosing a series, and writing a map set as typed maps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..case import Series, SeriesKind
from ..files import write_json, write_nifti
from ..handoff import Quantity, StageOutput, TimepointInputs, TypedMap

if TYPE_CHECKING:
    from ..perfusion.from_series import MapSet


def pick(inputs: TimepointInputs, out: StageOutput, kind: SeriesKind, label: str) -> Series | None:
    """The first series of ``kind`` (with a warning when there are several)."""
    series = inputs.timepoint.series_of(kind)
    if len(series) > 1:
        out.at(inputs.date).warnings.append(
            f"{label}: {len(series)} series of kind {kind.value}; the first ('{series[0].description}') was used"
        )
    return series[0] if series else None


def publish(ms: MapSet, inputs: TimepointInputs, out: StageOutput, label: str) -> dict[Quantity, TypedMap]:
    """Write every map of ``ms`` as ``maps/<date>/<kind>_<name>.nii.gz`` plus ``<kind>_parameters.json``.

    Returns the typed maps by quantity (also added to ``out``) and adds the map set's warnings.
    """
    folder = inputs.map_folder
    params_rel = (folder / f"{ms.kind}_parameters.json").as_posix()
    typed: dict[Quantity, TypedMap] = {}
    for name, arr in ms.maps.items():
        rel = folder / f"{ms.kind}_{name}.nii.gz"
        unit = ms.units.get(name, "")
        write_nifti(inputs.out_dir / rel, arr, ms.affine, description=f"pseudoprog {ms.kind} {name} [{unit}]")
        q = Quantity.of(ms.kind, name)
        typed[q] = TypedMap(q, arr, ms.affine, unit, ms.series_uid, {"parameters_file": params_rel}, rel.as_posix())
    params = {"kind": ms.kind, "series_uid": ms.series_uid, "units": ms.units, "warnings": ms.warnings, **ms.parameters}
    write_json(inputs.out_dir / params_rel, params)
    tp = out.at(inputs.date)
    tp.maps.extend(typed.values())
    tp.warnings.extend(f"{label}: {w}" for w in ms.warnings)
    return typed
