"""Synthetic patients: a treated brain tumour followed over several scans, with known truth.

Four scenarios follow published courses (clinical_rules.md §0.3, §1.3.3, §3):

``true_progression``
    Glioblastoma, IDH-wildtype, MGMT unmethylated; gross-total resection, 60 Gy chemoradiation.
    Viable enhancing tumour grows steadily beyond the 12-week window.
``pseudoprogression``
    Glioblastoma, MGMT methylated; enhancement enlarges 10 weeks after chemoradiation (inside the
    12-week window), then regresses without a change of therapy. The enhancing tissue is
    treatment effect (hypovascular).
``radiation_necrosis_after_srs``
    Lung-cancer metastasis treated with single-fraction 20 Gy radiosurgery; shrinks, then enlarges
    9 months later with a necrotic core and wide oedema; later stable. Treatment effect.
``stable``
    Glioblastoma after chemoradiation with unchanged enhancement: routine surveillance, which
    pseudoprog refuses as outside its scope (no new or enlarging lesion).

Each scan is drawn from the same head (same seed) in a slightly different position (a small
rotation and shift, as between real visits), with the lesion shapes of that date. Sequence
generators turn the tissue labels into images; :data:`GENERATORS` lists them so the perfusion and
diffusion phantoms plug in beside the structural one. ``truth.json`` records everything known.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import ndimage

from ..case import SeriesKind
from .anatomy import Anatomy, Grid, LesionShape, Tissue, healthy_brain, place_lesions
from .asl import asl_series
from .dce import dce_series
from .dwi import dwi_series
from .writers import StudyInfo, SyntheticSeries, write_dicom, write_nifti

# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanSpec:
    date: dt.date
    lesions: tuple[LesionShape, ...]
    clinical_status: str = "stable"
    steroids_mg: float = 0.0
    follow_up: bool = False  # a later scan that settles the question (not written unless asked)
    pose: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # rotation about z (deg), shift x, y, z (mm)


@dataclass(frozen=True)
class Scenario:
    name: str
    truth: str  # "true_progression" | "treatment_effect" | "stable"
    patient: dict[str, Any]
    diagnosis: dict[str, Any]
    treatments: tuple[dict[str, Any], ...]
    scans: tuple[ScanSpec, ...]
    indication: str = "new_or_enlarging_enhancement"
    location_vs_rt: str = "in_field"
    description: str = ""


_GBM_CENTRE = (34.0, 18.0, 9.0)  # right frontal, RAS mm
_TP, _TE = Tissue.TUMOUR_ENHANCING, Tissue.TREATMENT_EFFECT_ENHANCING


def _gbm(axes: tuple[float, float, float], core: float, enhancing: Tissue, oedema: float = 1.5) -> LesionShape:
    return LesionShape(
        "L1", _GBM_CENTRE, axes, core_fraction=core, core=Tissue.CAVITY, enhancing=enhancing, oedema_scale=oedema
    )


def _met(axes: tuple[float, float, float], core: float, enhancing: Tissue, oedema: float) -> LesionShape:
    return LesionShape(
        "L1",
        (-30.0, 24.0, 15.0),
        axes,
        core_fraction=core,
        core=Tissue.NECROSIS,
        enhancing=enhancing,
        oedema_scale=oedema,
    )


SCENARIOS: dict[str, Scenario] = {
    "true_progression": Scenario(
        name="true_progression",
        truth="true_progression",
        description="GBM, MGMT unmethylated: viable tumour grows after the 12-week window",
        patient={"id": "SYN-TP-001", "age": 61, "sex": "M"},
        diagnosis={
            "type": "glioblastoma",
            "idh": "wildtype",
            "mgmt": "unmethylated",
            "who_grade": 4,
            "date": dt.date(2025, 9, 8),
        },
        treatments=(
            {"type": "surgery", "date": dt.date(2025, 9, 8), "extent": "gross_total"},
            {
                "type": "chemoradiation",
                "start": dt.date(2025, 10, 6),
                "end": dt.date(2025, 11, 14),
                "dose_gy": 60,
                "fractions": 30,
                "agent": "temozolomide",
            },
            {"type": "chemotherapy", "start": dt.date(2025, 12, 15), "agent": "temozolomide"},
        ),
        scans=(
            ScanSpec(dt.date(2025, 12, 15), (_gbm((13, 11, 10), 0.8, _TP),), "stable", 2, pose=(0, 0, 0, 0)),
            ScanSpec(dt.date(2026, 3, 16), (_gbm((19, 15, 13), 0.55, _TP),), "stable", 2, pose=(2.0, 1.5, -1, 0.5)),
            ScanSpec(dt.date(2026, 5, 11), (_gbm((25, 19, 16), 0.45, _TP, 1.7),), "worse", 4, pose=(-1.5, -2, 1, 1.0)),
            ScanSpec(
                dt.date(2026, 7, 6),
                (_gbm((30, 23, 19), 0.4, _TP, 1.8),),
                "worse",
                8,
                follow_up=True,
                pose=(1.0, 1, 2, -1.0),
            ),
        ),
    ),
    "pseudoprogression": Scenario(
        name="pseudoprogression",
        truth="treatment_effect",
        description="GBM, MGMT methylated: enhancement enlarges 10 weeks after chemoradiation, then regresses",
        patient={"id": "SYN-PSP-001", "age": 54, "sex": "F"},
        diagnosis={
            "type": "glioblastoma",
            "idh": "wildtype",
            "mgmt": "methylated",
            "who_grade": 4,
            "date": dt.date(2025, 12, 1),
        },
        treatments=(
            {"type": "surgery", "date": dt.date(2025, 12, 1), "extent": "gross_total"},
            {
                "type": "chemoradiation",
                "start": dt.date(2026, 1, 5),
                "end": dt.date(2026, 2, 13),
                "dose_gy": 60,
                "fractions": 30,
                "agent": "temozolomide",
            },
        ),
        scans=(
            ScanSpec(dt.date(2026, 3, 16), (_gbm((13, 11, 10), 0.8, _TE),), "stable", 0, pose=(0, 0, 0, 0)),
            ScanSpec(dt.date(2026, 4, 27), (_gbm((20, 16, 13), 0.6, _TE, 1.8),), "stable", 4, pose=(2.5, 2, -1.5, 1.0)),
            ScanSpec(
                dt.date(2026, 6, 22),
                (_gbm((15, 12, 11), 0.7, _TE),),
                "improved",
                1,
                follow_up=True,
                pose=(-2.0, -1, 1, 0),
            ),
        ),
    ),
    "radiation_necrosis_after_srs": Scenario(
        name="radiation_necrosis_after_srs",
        truth="treatment_effect",
        description="Lung-cancer metastasis after 20 Gy radiosurgery: shrinks, then enlarges with necrosis at 9 months",
        patient={"id": "SYN-RN-001", "age": 66, "sex": "F"},
        diagnosis={"type": "metastasis", "primary": "lung", "date": dt.date(2025, 5, 12)},
        treatments=(
            {
                "type": "srs",
                "date": dt.date(2025, 6, 2),
                "dose_gy": 20,
                "fractions": 1,
                "isodose_percent": 80,
                "target": "L1",
            },
        ),
        scans=(
            ScanSpec(dt.date(2025, 5, 26), (_met((8, 7, 7), 0.0, _TP, 1.8),), "stable", 0, pose=(0, 0, 0, 0)),
            ScanSpec(dt.date(2025, 9, 1), (_met((6, 5, 5), 0.0, _TE, 1.5),), "stable", 0, pose=(1.5, 1, 1, 0)),
            ScanSpec(dt.date(2026, 3, 2), (_met((12, 10, 9), 0.55, _TE, 2.4),), "worse", 4, pose=(-2, -1.5, 0, 1)),
            ScanSpec(
                dt.date(2026, 6, 1),
                (_met((11, 9, 8), 0.6, _TE, 2.0),),
                "improved",
                2,
                follow_up=True,
                pose=(1, 0, -1, 0),
            ),
        ),
        location_vs_rt="in_field",
    ),
    "stable": Scenario(
        name="stable",
        truth="stable",
        description="GBM after chemoradiation, unchanged enhancement: routine surveillance (out of scope)",
        patient={"id": "SYN-ST-001", "age": 49, "sex": "M"},
        diagnosis={
            "type": "glioblastoma",
            "idh": "wildtype",
            "mgmt": "methylated",
            "who_grade": 4,
            "date": dt.date(2025, 6, 2),
        },
        treatments=(
            {"type": "surgery", "date": dt.date(2025, 6, 2), "extent": "gross_total"},
            {
                "type": "chemoradiation",
                "start": dt.date(2025, 7, 7),
                "end": dt.date(2025, 8, 15),
                "dose_gy": 60,
                "fractions": 30,
                "agent": "temozolomide",
            },
        ),
        scans=(
            ScanSpec(dt.date(2025, 9, 15), (_gbm((13, 11, 10), 0.8, _TE),), "stable", 0, pose=(0, 0, 0, 0)),
            ScanSpec(dt.date(2025, 12, 15), (_gbm((13, 11, 10), 0.8, _TE),), "stable", 0, pose=(1, 1, 0, 0)),
            ScanSpec(dt.date(2026, 3, 16), (_gbm((13, 11, 10), 0.8, _TE),), "stable", 0, pose=(-1, 0, 1, 0)),
        ),
        indication="surveillance",
    ),
}


# ---------------------------------------------------------------------------------------------
# One scan of the phantom, and the sequence generators
# ---------------------------------------------------------------------------------------------


@dataclass
class PhantomTimepoint:
    """What a sequence generator gets: the tissue labels of one scan, its geometry and context."""

    scenario: Scenario
    spec: ScanSpec
    anatomy: Anatomy
    affine: np.ndarray  # scanner (world) RAS affine of this scan's grid
    seed: int
    weeks_since_radiotherapy: float | None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return self.anatomy.labels

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for one purpose, independent of the order the generators run in."""
        key = f"{self.seed}/{self.spec.date.isoformat()}/{purpose}".encode()
        return np.random.default_rng(int.from_bytes(__import__("hashlib").sha256(key).digest()[:8], "little"))


SeriesGenerator = Callable[[PhantomTimepoint], list[SyntheticSeries]]

# Structural signal per tissue (arbitrary units, 3 T-like contrast): T1, T1c, T2, FLAIR.
_STRUCTURAL = {
    Tissue.BACKGROUND: (0, 0, 0, 0),
    Tissue.CSF: (250, 255, 1000, 110),
    Tissue.GREY_MATTER: (560, 570, 620, 520),
    Tissue.WHITE_MATTER: (760, 770, 430, 420),
    Tissue.OEDEMA: (520, 530, 820, 820),
    Tissue.TUMOUR_ENHANCING: (560, 1050, 660, 640),
    Tissue.TREATMENT_EFFECT_ENHANCING: (560, 980, 720, 700),
    Tissue.NECROSIS: (360, 370, 880, 620),
    Tissue.CAVITY: (230, 235, 1000, 140),
    Tissue.SCALP: (900, 910, 520, 600),
    Tissue.SKULL: (60, 60, 50, 50),
    Tissue.ARTERY: (480, 1150, 120, 150),
}
_STRUCTURAL_SEQUENCES = (
    # name, kind, TE ms, TR ms, TI ms, flip, contrast, scanning sequence, column in _STRUCTURAL
    ("T1", SeriesKind.T1, 2.5, 2000.0, 900.0, 9.0, False, "GR\\IR", 0),
    ("T1c", SeriesKind.T1C, 2.5, 2000.0, 900.0, 9.0, True, "GR\\IR", 1),
    ("T2", SeriesKind.T2, 95.0, 5000.0, None, 150.0, False, "SE", 2),
    ("FLAIR", SeriesKind.FLAIR, 85.0, 9000.0, 2500.0, 150.0, False, "SE\\IR", 3),
)
NOISE_SD = 12.0


def _bias_field(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth multiplicative receive-field inhomogeneity of about ±8 %."""
    coarse = rng.standard_normal((4, 4, 3))
    field_ = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape, strict=True)], order=3)
    field_ = field_[: shape[0], : shape[1], : shape[2]]
    return 1.0 + 0.08 * field_ / (np.abs(field_).max() + 1e-12)


def rician(signal: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels (the MR noise model)."""
    real = signal + rng.normal(0.0, sd, signal.shape)
    imag = rng.normal(0.0, sd, signal.shape)
    return np.sqrt(real**2 + imag**2)


def structural_series(tp: PhantomTimepoint) -> list[SyntheticSeries]:
    """T1, T1c, T2 and FLAIR from the tissue labels, with partial volume, bias field and Rician noise."""
    out = []
    bias = _bias_field(tp.labels.shape, tp.rng("bias"))
    for name, kind, te, tr, ti, flip, contrast, seq, column in _STRUCTURAL_SEQUENCES:
        lut = np.zeros(max(int(t) for t in Tissue) + 1, dtype=np.float32)
        for tissue, values in _STRUCTURAL.items():
            lut[int(tissue)] = values[column]
        image = lut[tp.labels]
        image = ndimage.gaussian_filter(image, sigma=(0.6, 0.6, 0.3))  # partial volume at edges
        image = rician(image * bias, NOISE_SD, tp.rng(name))
        out.append(
            SyntheticSeries(
                name=name,
                kind=kind,
                data=image.astype(np.float32),
                affine=tp.affine,
                echo_time_ms=te,
                repetition_time_ms=tr,
                inversion_time_ms=ti,
                flip_angle_deg=flip,
                contrast=contrast,
                scanning_sequence=seq,
            )
        )
    return out


# The sequence generators run for every scan, in this order. Perfusion and diffusion phantoms add theirs.
GENERATORS: dict[str, SeriesGenerator] = {"structural": structural_series}
GENERATORS["dce"] = dce_series  # VFA + dynamic SPGR (phantoms/dce.py)
GENERATORS["asl"] = asl_series  # pCASL control/label + M0 (phantoms/asl.py)
GENERATORS["dwi"] = dwi_series  # b = 0, 500, 1000 (phantoms/dwi.py)


# ---------------------------------------------------------------------------------------------
# Building and writing a case
# ---------------------------------------------------------------------------------------------


def _pose_affine(grid: Grid, pose: tuple[float, float, float, float]) -> np.ndarray:
    """World affine of a scan whose head is rotated by ``pose[0]`` degrees about z and shifted by pose[1:]."""
    angle = np.deg2rad(pose[0])
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    rot[:3, 3] = pose[1:]
    # The scanner grid is fixed; the head moves. Equivalent: the image grid seen from head coordinates
    # is moved by the inverse pose. Labels are drawn in head coordinates on the grid (exact truth);
    # the affine places that grid in scanner space.
    return rot @ grid.affine


def build_timepoint(scenario: Scenario, spec: ScanSpec, *, seed: int, grid: Grid | None = None) -> PhantomTimepoint:
    grid = grid or Grid()
    healthy = healthy_brain(grid, seed=seed)
    anatomy = place_lesions(grid, healthy, spec.lesions)
    rt_ends: list[dt.date] = []
    for t in scenario.treatments:
        end = t.get("end") or t.get("date")
        if t["type"] in ("chemoradiation", "radiotherapy", "srs", "fsrt", "wbrt") and end is not None:
            if end <= spec.date:
                rt_ends.append(end)
    weeks = (spec.date - max(rt_ends)).days / 7.0 if rt_ends else None
    return PhantomTimepoint(
        scenario=scenario,
        spec=spec,
        anatomy=anatomy,
        affine=_pose_affine(grid, spec.pose),
        seed=seed,
        weeks_since_radiotherapy=weeks,
    )


def _lesion_truth(tp: PhantomTimepoint) -> list[dict[str, Any]]:
    out = []
    for les in tp.spec.lesions:
        mask = tp.anatomy.lesion_masks[les.lesion_id]
        out.append(
            {
                "id": les.lesion_id,
                "long_mm": les.long_mm,
                "perp_mm": les.perp_mm,
                "bidimensional_product_mm2": les.long_mm * les.perp_mm,
                "enhancing_volume_mm3_analytic": les.enhancing_volume_mm3,
                "enhancing_volume_mm3_voxels": float(mask.sum()) * tp.anatomy.grid.voxel_volume_mm3,
                "core_volume_mm3_analytic": les.core_volume_mm3,
                "enhancing_tissue": Tissue(les.enhancing).name.lower(),
                "core_tissue": Tissue(les.core).name.lower() if les.core_fraction > 0 else None,
                "centre_mm_head": list(les.centre_mm),
            }
        )
    return out


def _case_yaml(scenario: Scenario, written: list[tuple[ScanSpec, str]], *, report_measurements: bool) -> dict:
    timepoints = []
    for spec, folder in written:
        entry: dict[str, Any] = {
            "date": spec.date,
            "clinical_status": spec.clinical_status,
            "steroids_mg_dexamethasone": spec.steroids_mg,
            "images": folder + "/",
        }
        if report_measurements:
            # As a radiologist reports them: whole millimetres.
            entry["lesions"] = [
                {
                    "id": les.lesion_id,
                    "long_mm": round(les.long_mm),
                    "perp_mm": round(les.perp_mm),
                    "enhancing": True,
                    "location_vs_rt": scenario.location_vs_rt,
                }
                for les in spec.lesions
            ]
        timepoints.append(entry)
    return {
        "patient": scenario.patient,
        "diagnosis": scenario.diagnosis,
        "treatments": list(scenario.treatments),
        "indication": scenario.indication,
        "timepoints": timepoints,
    }


def write_synthetic_case(
    out: str | Path,
    *,
    scenario: str = "pseudoprogression",
    fmt: str = "nifti",
    seed: int = 7,
    include_follow_up: bool = False,
    report_measurements: bool = True,
    generators: dict[str, SeriesGenerator] | None = None,
    grid: Grid | None = None,
) -> Path:
    """Write a complete case folder (``case.yaml``, one image folder per scan, ``truth.json``).

    Parameters
    ----------
    out
        The case folder to create (replaced if it exists and holds a previous phantom).
    scenario
        One of :data:`SCENARIOS`.
    fmt
        ``"nifti"`` (NIfTI + BIDS JSON) or ``"dicom"`` (classic MR objects, one per slice and frame).
    include_follow_up
        Also write the later scan that settles the question (confirmation of progression or regression).
    report_measurements
        Put the lesion diameters in ``case.yaml`` as a radiologist would report them (whole mm).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if fmt not in ("nifti", "dicom"):
        raise ValueError("fmt must be 'nifti' or 'dicom'")
    sc = SCENARIOS[scenario]
    out = Path(out)
    if out.exists():
        if not (out / "truth.json").exists():
            raise ValueError(f"{out} exists and is not a phantom case folder; refusing to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    gens = generators if generators is not None else GENERATORS
    written: list[tuple[ScanSpec, str]] = []
    truth_tps = []
    birth = dt.date(sc.scans[0].date.year - int(sc.patient["age"]), 1, 1)
    for spec in sc.scans:
        if spec.follow_up and not include_follow_up:
            continue
        tp = build_timepoint(sc, spec, seed=seed, grid=grid)
        folder = spec.date.isoformat()
        series: list[SyntheticSeries] = []
        for gen in gens.values():
            series.extend(gen(tp))
        info = StudyInfo(
            patient_id=sc.patient["id"],
            patient_name=f"PHANTOM^{sc.name.upper()}",
            birth_date=birth,
            sex=sc.patient["sex"],
            study_date=spec.date,
            study_seed=f"{sc.name}/{seed}/{folder}",
        )
        for number, s in enumerate(series, start=1):
            if fmt == "nifti":
                write_nifti(s, out / folder)
            else:
                write_dicom(s, out / folder, info, series_number=number)
        written.append((spec, folder))
        truth_tps.append(
            {
                "date": spec.date.isoformat(),
                "follow_up": spec.follow_up,
                "weeks_since_radiotherapy": tp.weeks_since_radiotherapy,
                "pose": list(spec.pose),
                "series": [{"name": s.name, "kind": s.kind.value} for s in series],
                "lesions": _lesion_truth(tp),
                **{k: v for k, v in tp.extras.items() if _jsonable(v)},
            }
        )
    doc = _case_yaml(sc, written, report_measurements=report_measurements)
    (out / "case.yaml").write_text(
        "# Synthetic patient written by pseudoprog (phantoms/patient.py). Truth in truth.json.\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    truth = {
        "scenario": sc.name,
        "truth": sc.truth,
        "description": sc.description,
        "seed": seed,
        "format": fmt,
        "grid": {"shape": list((grid or Grid()).shape), "spacing_mm": list((grid or Grid()).spacing_mm)},
        "timepoints": truth_tps,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True
