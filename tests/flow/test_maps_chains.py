"""Map builders run in chains side by side (texture after the DSC it reads); the outputs are those of one thread."""

from __future__ import annotations

import json

import pytest

from pseudoprog.flow import assess
from pseudoprog.phantoms.anatomy import Grid
from pseudoprog.threads import ENV

pytestmark = pytest.mark.e2e
_RUN_SPECIFIC = {"created", "case_root", "outputs"}


def _stripped(value):
    if isinstance(value, dict):
        return {k: _stripped(v) for k, v in value.items() if k not in _RUN_SPECIFIC}
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    return value


def test_chains_side_by_side_give_what_one_thread_gives(tmp_path, monkeypatch) -> None:
    from pseudoprog.phantoms.patient import write_synthetic_case

    case = write_synthetic_case(
        tmp_path / "case",
        scenario="true_progression",
        fmt="nifti",
        seed=5,
        grid=Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0)),
        sequences=("structural", "dsc", "asl", "dwi"),
    )
    results = {}
    for threads in ("1", "2"):
        monkeypatch.setenv(ENV, threads)
        assess(case, tmp_path / f"out{threads}")
        results[threads] = json.loads((tmp_path / f"out{threads}" / "assessment.json").read_text())
    assert _stripped(results["1"]) == _stripped(results["2"])
    texture = (tmp_path / "out2" / "features").glob("*")
    assert any("rCBV" in path.read_text() for path in texture if path.is_file()), "texture did not see the rCBV map"


def test_blas_runs_on_one_thread_throughout_the_run(tmp_path, monkeypatch) -> None:
    """The run's own thread holds BLAS to one thread before its workers start (threadpoolctl lets only that thread
    change it meanwhile), so a sum is never split differently from one run to the next (threads.blas_in_one_thread)."""
    from threadpoolctl import threadpool_info

    from pseudoprog.flow import run
    from pseudoprog.phantoms.patient import write_synthetic_case

    case = write_synthetic_case(
        tmp_path / "case",
        scenario="pseudoprogression",
        fmt="nifti",
        seed=3,
        grid=Grid(shape=(48, 56, 16), spacing_mm=(4.0, 4.0, 8.0)),
        sequences=("structural",),
    )
    seen: list[int] = []

    def probe(ctx):
        seen.extend(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
        return run.StageOutput()

    monkeypatch.setattr(run, "STAGES", [*run.STAGES, ("probe", probe)])
    assess(case, tmp_path / "out")
    assert seen and set(seen) == {1}
