"""The typed hand-off between the stages of the flow: what a stage returns and the runner merges.

A stage is a function from typed inputs (the case, a timepoint, lesion masks, transforms, maps
other stages made) to a :class:`StageOutput`. Maps are :class:`TypedMap` objects keyed by a
:class:`Quantity`, so a consumer asks for ``Quantity.RCBV`` rather than guessing a file name.

>>> out = StageOutput()
>>> out.skip("perfusion.dce", "no VFA series")
>>> out.not_assessed[0].stage
'perfusion.dce'
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .assessment import MapOutput, NotAssessed, TimepointResult
from .case import Lesion, LesionMask, Marker, SeriesKind, Timepoint

if TYPE_CHECKING:
    from .align.registration import Registration
    from .perfusion.reference_region import Midline


class Quantity(enum.Enum):
    """What a map holds. The value is the map's name without its acquisition prefix, as written on disk."""

    # DSC (perfusion/dsc.py DSCFit.maps and the masks write_dsc_outputs adds)
    RCBV = "dsc_rcbv"
    RCBV_UNCORRECTED = "dsc_rcbv_uncorrected"
    CBV = "dsc_cbv"
    CBF = "dsc_cbf"
    RCBF = "dsc_rcbf"
    MTT = "dsc_mtt"
    K2 = "dsc_k2"
    K1 = "dsc_k1"
    FTB_CLASS = "dsc_ftb"
    DSC_AIF_VOXELS = "dsc_aif_voxels"
    DSC_REFERENCE_VOXELS = "dsc_reference_voxels"
    DSC_BRAIN_MASK = "dsc_brain_mask"
    # DCE (perfusion/dce.py DCEResult.maps, from_series.dce_from_series)
    KTRANS = "dce_ktrans"
    KEP = "dce_kep"
    VE = "dce_ve"
    VP = "dce_vp"
    DCE_RMSE = "dce_rmse"
    DCE_R2 = "dce_r2"
    DCE_FIT_STATUS = "dce_fit_status"
    DCE_T10 = "dce_t10"
    DCE_AUC90 = "dce_auc90"
    DCE_AIF_MASK = "dce_aif_mask"
    # ASL (from_series.asl_from_series)
    ASL_CBF = "asl_cbf"
    ASL_DELTA_M = "asl_delta_m"
    ASL_M0 = "asl_m0"
    # Diffusion (diffusion/from_series.adc_from_series)
    ADC = "adc_adc"
    DWI_S0 = "adc_s0"
    ADC_FAILED = "adc_failed"
    # TRAM (from_series.tram_from_series)
    TRAM_DIFFERENCE = "tram_difference"
    TRAM_CLASS = "tram_class"
    TRAM_DELAYED_REGISTERED = "tram_delayed_registered"
    # PET (pet/lesion.assess_pet)
    PET_SUV = "pet_suv"

    @classmethod
    def of(cls, kind: str, name: str) -> Quantity:
        """The quantity of map ``name`` of a map set of ``kind`` (``Quantity.of("dce", "ktrans")``)."""
        return cls(f"{kind}_{name}")


@dataclass(frozen=True)
class TypedMap:
    """One quantitative map in memory, on its own grid, with what made it and (once written) its file."""

    quantity: Quantity
    array: np.ndarray
    affine: np.ndarray
    unit: str
    series_uid: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None  # relative to the output folder, once written

    @property
    def name(self) -> str:
        """The map's name in assessment.json and on disk (``dsc_rcbv``, ``adc_adc``, ``pet_suv``)."""
        return self.quantity.value

    def record(self) -> MapOutput:
        """The assessment's record of the written map."""
        return MapOutput(self.name, self.path or "", self.unit, self.series_uid, dict(self.parameters))


@dataclass
class TimepointOutput:
    """What one stage produced for one timepoint."""

    # In the order made; looked up by Quantity (a list, because a session may hold several PET series).
    maps: list[TypedMap] = field(default_factory=list)
    files: list[MapOutput] = field(default_factory=list)  # written outputs that are not images (feature tables)
    markers: list[Marker] = field(default_factory=list)
    lesions: tuple[Lesion, ...] | None = None  # None: the stage did not (re)measure the lesions
    lesion_masks: tuple[LesionMask, ...] | None = None
    transforms: Transforms | None = None  # the lesions stage's registrations
    # The brain's midline in world space, found by the lesions stage on the T1c brain mask: the mirror of every
    # contralateral reference (rADC, ASL rCBF, the DSC white matter) of the session's series.
    midline: Midline | None = None
    # Why new lesions were not looked for on this scan (automatic detection refused it; known lesions only).
    new_lesions_not_searched: str | None = None
    warnings: list[str] = field(default_factory=list)

    def map(self, quantity: Quantity) -> TypedMap | None:
        """The first map of ``quantity``, or None."""
        return next((m for m in self.maps if m.quantity is quantity), None)

    def result(self, tp: Timepoint) -> TimepointResult:
        """The timepoint's record in assessment.json (lesions as reported when no stage measured them)."""
        return TimepointResult(
            date=tp.date,
            lesions=tp.lesions if self.lesions is None else self.lesions,
            markers=tuple(self.markers),
            series=tp.series,
            maps=tuple([m.record() for m in self.maps] + self.files),
            warnings=tuple(self.warnings),
            registration={} if self.transforms is None else self.transforms.to_dict(),
        )

    def extend(self, other: TimepointOutput) -> None:
        """Add another output of the same timepoint: lists accumulate; lesions, masks and transforms replace."""
        self.maps.extend(other.maps)
        self.files.extend(other.files)
        self.markers.extend(other.markers)
        self.warnings.extend(other.warnings)
        if other.lesions is not None:
            self.lesions = other.lesions
        if other.lesion_masks is not None:
            self.lesion_masks = other.lesion_masks
        if other.new_lesions_not_searched is not None:
            self.new_lesions_not_searched = other.new_lesions_not_searched
        if other.transforms is not None:
            self.transforms = other.transforms
        if other.midline is not None:
            self.midline = other.midline


@dataclass
class StageOutput:
    """What one stage produced: per timepoint, plus case-level warnings and what it could not assess."""

    timepoints: dict[dt.date, TimepointOutput] = field(default_factory=dict)
    not_assessed: list[NotAssessed] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results: dict[type, Any] = field(default_factory=dict)  # case-level typed results, keyed by their type

    def at(self, date: dt.date) -> TimepointOutput:
        return self.timepoints.setdefault(date, TimepointOutput())

    def skip(self, stage: str, reason: str, **kw: Any) -> None:
        self.not_assessed.append(NotAssessed(stage=stage, reason=reason, **kw))

    def extend(self, other: StageOutput) -> StageOutput:
        """Add another output's content to this one."""
        for date, tp in other.timepoints.items():
            self.at(date).extend(tp)
        self.not_assessed.extend(other.not_assessed)
        self.warnings.extend(other.warnings)
        self.results.update(other.results)
        return self


@dataclass(frozen=True)
class Transforms:
    """The lesions stage's registrations of one timepoint: onto the baseline, and each series onto the T1c.

    PET and TRAM read them from :class:`TimepointInputs` instead of registering again.
    """

    to_baseline: Registration | None = None
    series_to_t1c: Mapping[str, Registration] = field(default_factory=dict)  # series kind → transform

    def to_dict(self) -> dict[str, Any]:
        """As written into assessment.json (``timepoints[].registration``)."""
        return {
            "to_baseline": None if self.to_baseline is None else self.to_baseline.to_dict(),
            "series_to_t1c": {k: r.to_dict() for k, r in self.series_to_t1c.items()},
        }


@dataclass(frozen=True)
class TimepointInputs:
    """What a map builder receives for one timepoint."""

    timepoint: Timepoint
    out_dir: Path
    lesion_masks: tuple[LesionMask, ...] = ()
    transforms: Transforms | None = None
    maps: tuple[TypedMap, ...] = ()  # maps the builders before this one made (texture reads rCBV)
    midline: Midline | None = None  # the brain's midline found on the T1c (TimepointOutput.midline)

    @property
    def date(self) -> dt.date:
        return self.timepoint.date

    @property
    def map_folder(self) -> Path:
        """Where this timepoint's maps are written, relative to the output folder."""
        return Path("maps") / self.date.isoformat()

    def map(self, quantity: Quantity) -> TypedMap | None:
        return next((m for m in self.maps if m.quantity is quantity), None)

    def transform_to_t1c(self, kind: SeriesKind) -> Registration | None:
        """The lesions stage's registration of this kind of series onto the reference T1c, if it made one."""
        return None if self.transforms is None else self.transforms.series_to_t1c.get(kind.value)
