"""Report tests: a small synthetic patient assessed once, with the phantom's true lesion masks and an rCBV map.

The lesions and perfusion stages are built elsewhere; until they land, the tests stand in for them
with exact truth (the phantom's labels are on the T1c grid), so every output of the report stage is
exercised: panels, SEG, Parametric Map, SR, HTML and PDF. A coarse grid keeps the case small.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pseudoprog import flow, maps
from pseudoprog.case import LesionMask, SeriesKind
from pseudoprog.flow import run as flow_run
from pseudoprog.handoff import Quantity, StageOutput, TimepointInputs, TypedMap
from pseudoprog.phantoms.anatomy import Grid, Tissue
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint

SMALL_GRID = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))
SEED = 7
# Synthetic rCBV per tissue (ratio to white matter) for the stand-in map: hypervascular tumour,
# hypovascular treatment effect, so the FTB overlay shows both classes.
_RCBV = {
    Tissue.GREY_MATTER: 1.6,
    Tissue.WHITE_MATTER: 1.0,
    Tissue.TUMOUR_ENHANCING: 3.2,
    Tissue.TREATMENT_EFFECT_ENHANCING: 0.8,
    Tissue.OEDEMA: 0.9,
}


def need_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package: see .ci/run DEBIAN_PACKAGES)")
    return path


def truth(scenario: str, date: dt.date):
    sc = SCENARIOS[scenario]
    spec = next(s for s in sc.scans if s.date == date)
    return build_timepoint(sc, spec, seed=SEED, grid=SMALL_GRID)


def truth_masks(scenario: str, date: dt.date) -> tuple[LesionMask, ...]:
    tp = truth(scenario, date)
    labels = tp.labels
    enhancing = np.isin(labels, [int(Tissue.TUMOUR_ENHANCING), int(Tissue.TREATMENT_EFFECT_ENHANCING)])
    core = np.isin(labels, [int(Tissue.CAVITY), int(Tissue.NECROSIS)])
    return (LesionMask("L1", enhancing, tp.affine, core=core, source="phantom truth"),)


def install_truth_stages(monkeypatch: pytest.MonkeyPatch, scenario: str) -> None:
    """Replace the lesions stage and add an rCBV builder that use the phantom's truth."""

    def lesions(ctx: flow.FlowContext) -> StageOutput:
        out = StageOutput()
        for tp in ctx.case.timepoints:
            out.at(tp.date).lesion_masks = truth_masks(scenario, tp.date)
        return out

    def maps_truth_rcbv(inputs: TimepointInputs) -> StageOutput:
        tp, out = inputs.timepoint, StageOutput()
        t1c = tp.series_of(SeriesKind.T1C)[0]
        phantom = truth(scenario, tp.date)
        lut = np.ones(max(int(t) for t in Tissue) + 1, dtype=np.float32)
        for tissue, value in _RCBV.items():
            lut[int(tissue)] = value
        rcbv = lut[phantom.labels]
        rel = f"maps/{tp.date.isoformat()}/rcbv.nii.gz"
        (inputs.out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(rcbv, phantom.affine), str(inputs.out_dir / rel))
        out.at(tp.date).maps.append(
            TypedMap(Quantity.RCBV, rcbv, phantom.affine, "ratio", t1c.uid, {"source": "phantom truth"}, rel)
        )
        return out

    stages = [(name, lesions if name == "lesions" else fn) for name, fn in flow_run.STAGES]
    monkeypatch.setattr(flow_run, "STAGES", stages)
    monkeypatch.setattr(maps, "BUILDERS", [*maps.BUILDERS, ("truth_rcbv", maps_truth_rcbv)])


@pytest.fixture(scope="session")
def small_case(tmp_path_factory: pytest.TempPathFactory):
    """``small_case(scenario, fmt)`` → a case folder on the small grid, built once per session."""
    from pseudoprog.phantoms.patient import write_synthetic_case

    built: dict[tuple[str, str], Path] = {}

    def get(scenario: str = "pseudoprogression", fmt: str = "dicom") -> Path:
        if (scenario, fmt) not in built:
            folder = tmp_path_factory.mktemp(f"report-{scenario}-{fmt}")
            # Structural series only: the report needs a T1c; the map stages' own phantoms would add a
            # minute of fitting that these tests do not look at (the stand-in rCBV takes their place).
            built[scenario, fmt] = write_synthetic_case(
                folder / "case", scenario=scenario, fmt=fmt, seed=SEED, grid=SMALL_GRID,
                sequences=("structural",),
            )
        return built[scenario, fmt]

    return get


@pytest.fixture(scope="module")
def dicom_assessed(small_case, tmp_path_factory: pytest.TempPathFactory):
    """The DICOM pseudoprogression case assessed with truth masks and an rCBV map: (assessment, out folder)."""
    mp = pytest.MonkeyPatch()
    try:
        install_truth_stages(mp, "pseudoprogression")
        out = tmp_path_factory.mktemp("assessed") / "out"
        result = flow.assess(small_case("pseudoprogression", "dicom"), out)
    finally:
        mp.undo()
    return result, out


@pytest.fixture(scope="session")
def dicom_source(small_case):
    """(case, latest timepoint, its T1c SourceStack) of the small DICOM pseudoprogression case."""
    from pseudoprog.ingest import ingest_case
    from pseudoprog.report.dicom_source import load_source_stack

    case = ingest_case(small_case("pseudoprogression", "dicom")).case
    tp = case.latest
    return case, tp, load_source_stack(tp.series_of(SeriesKind.T1C)[0])


def dciodvfy_errors(path: Path) -> list[str]:
    """The error lines dicom3tools' validator prints for a file (skips the test if it is absent)."""
    import subprocess

    exe = need_binary("dciodvfy")
    run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def dcmdump_ok(path: Path) -> str:
    import subprocess

    exe = need_binary("dcmdump")
    run = subprocess.run([exe, "-E", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "E: " not in run.stderr, run.stderr
    return run.stdout
