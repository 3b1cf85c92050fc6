"""The install-time warm-up compiles every numba kernel a run calls, with the types a run uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pseudoprog import compiled

SRC = Path(compiled.__file__).resolve().parents[1]

# A run's calls, on inputs of other sizes and dtypes than the warm-up's: each must find its kernel in the cache.
RUN_LIKE = """
import json, numpy as np
from pseudoprog import compiled
from pseudoprog.lesions.segment import mid_sagittal_plane
from pseudoprog.perfusion.dce.fitting import fit_dce
from pseudoprog.perfusion.dce.models import model_curves
from pseudoprog.perfusion.dce.t1mapping import fit_vfa_t1
from pseudoprog.perfusion.dsc.deconvolution import deconvolve

rng = np.random.default_rng(3)
for t_s in (np.arange(90) * 3.0, np.r_[np.arange(30) * 1.5, 45 + np.arange(30) * 6.0]):
    t_min = t_s / 60
    cp = 6 * t_min / 0.1 * np.exp(1 - t_min / 0.1)
    kt = rng.uniform(0.01, 0.3, 50)
    c = model_curves("extended_tofts", t_s, cp, ktrans=kt, ve=rng.uniform(0.05, 0.5, 50), vp=rng.uniform(0, 0.1, 50))
    c = (c + rng.normal(0, 0.03, c.shape)).reshape(5, 10, -1)
    fit_dce(c, t_s=t_s, cp_mM=cp, mask=np.ones((5, 10), bool), delays_s=(0.0, 3.0))
    fit_dce(c, t_s=t_s, cp_mM=cp, model="tofts", method="linear")
fit_vfa_t1(rng.uniform(100, 900, (6, 7, 3)), flip_angles_deg=(3.0, 9.0, 15.0), tr_s=0.004)
fit_vfa_t1(rng.uniform(100, 900, (6, 3)), flip_angles_deg=(3.0, 9.0, 15.0), tr_s=0.004, nonlinear=False)
t = np.arange(50) * 1.2
aif = np.where(t > 5, (t - 5) ** 2 * np.exp(-(t - 5) / 2.0), 0.0)
deconvolve(rng.uniform(0, 1, (30, 50)), aif, 1.2)
deconvolve(rng.uniform(0, 1, (30, 50)).astype(np.float32), aif, 1.2, keep_residue=False)
x, y, z = np.mgrid[0:30, 0:32, 0:20]
mid_sagittal_plane(((x - 15) / 12) ** 2 + ((y - 16) / 14) ** 2 + ((z - 10) / 8) ** 2 < 1, np.diag([1.0, 1.0, 2.0, 1]))
print(json.dumps({n: [len(k.stats.cache_hits), len(k.stats.cache_misses)] for n, k in compiled.kernels().items()}))
"""


def _python(code: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_every_module_with_numba_kernels_is_listed() -> None:
    with_numba = {
        ".".join(path.relative_to(SRC).with_suffix("").parts)
        for path in (SRC / "pseudoprog").rglob("*.py")
        if path.name != "compiled.py"
        and ("numba.njit" in path.read_text(encoding="utf-8") or "@njit" in path.read_text(encoding="utf-8"))
    }
    assert with_numba == set(compiled.KERNEL_MODULES)


@pytest.mark.slow
def test_after_the_warm_up_a_run_compiles_nothing(tmp_path: Path) -> None:
    warmed = json.loads(
        _python("import json; from pseudoprog import compiled; print(json.dumps(compiled.warm_up()))", tmp_path)
    )
    assert "pseudoprog.perfusion.dce.fitting._lm_iteration" in warmed
    assert "pseudoprog.lesions.symmetry.mirrored_overlap" in warmed
    stats = json.loads(_python(RUN_LIKE, tmp_path))
    compiled_in_run = sorted(name for name, (_, misses) in stats.items() if misses)
    assert compiled_in_run == []
    # the run-like calls loaded every kernel Python calls from the cache (kernels called only by other kernels, such
    # as the blocked normal equations, are linked into their callers' cached code and are not looked up)
    loaded = {name.rsplit(".", 1)[1] for name, (hits, _) in stats.items() if hits}
    entry_points = {"_first_pass", "_lm_iteration", "_normal_equations", "_solve_steps", "_recursion", "_vfa_kernel"}
    assert loaded >= entry_points | {"_settle", "mirrored_overlap"}
