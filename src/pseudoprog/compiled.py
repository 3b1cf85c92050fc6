"""The numba-compiled kernels, compiled once ahead of the first case.

numba compiles a kernel the first time it is called and keeps the machine code in its on-disk cache (next to the
source, or under ``NUMBA_CACHE_DIR``). Without a warm-up the user's first ``assess`` or ``demo`` pays that
compilation (~10 CPU-seconds on 2 cores); ``make install`` calls :func:`warm_up` once instead
(``python -m pseudoprog.compiled``). Every kernel is reached through the public function that calls it in a run,
on a few synthetic voxels, so that the types compiled are those a run uses; a kernel added without a call here is
found by :func:`kernels` and reported by the test that checks the warm-up reaches them all.
"""

from __future__ import annotations

import importlib
import time

import numpy as np

#: Modules that hold ``numba.njit`` kernels (the test walks the whole package and checks this list is complete).
KERNEL_MODULES = (
    "pseudoprog.perfusion.dce.fitting",
    "pseudoprog.perfusion.dce.models",
    "pseudoprog.perfusion.dce.t1mapping",
    "pseudoprog.perfusion.dsc.deconvolution",
    "pseudoprog.lesions.symmetry",
)


def kernels() -> dict[str, object]:
    """Every numba dispatcher in :data:`KERNEL_MODULES`, by ``module.name``."""
    from numba.core.registry import CPUDispatcher

    found: dict[str, object] = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == name:
                found[f"{name}.{attr}"] = value
    return found


def _dce_curves(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A few extended-Tofts curves (and their AIF) with noise, so that the nonlinear fit iterates."""
    from .perfusion.dce.models import model_curves

    t_min = t_s / 60.0
    cp = 5.0 * (t_min / 0.15) * np.exp(1.0 - t_min / 0.15) + 0.5 * (1.0 - np.exp(-t_min / 2.0))
    ktrans = np.array([0.02, 0.05, 0.1, 0.2, 0.35, 0.0, 0.1, 0.15] * 4)
    ve = np.array([0.1, 0.2, 0.3, 0.5, 0.05, 0.2, 0.01, 0.4] * 4)
    vp = np.array([0.01, 0.02, 0.05, 0.0, 0.03, 0.1, 0.02, 0.04] * 4)
    curves = model_curves("extended_tofts", t_s, cp, ktrans=ktrans, ve=ve, vp=vp)
    noise = np.random.default_rng(7).normal(0.0, 0.02, curves.shape)
    return curves + noise, cp


def warm_up() -> list[str]:
    """Call every kernel once through the functions a run uses; the kernels now compiled (cached on disk)."""
    from .lesions.segment import mid_sagittal_plane
    from .perfusion.dce.fitting import fit_dce
    from .perfusion.dce.t1mapping import fit_vfa_t1
    from .perfusion.dsc.deconvolution import deconvolve

    # DCE: uniform and irregular sampling (separate kernels), the extended and the standard model.
    uniform = np.arange(60) * 4.0
    irregular = np.concatenate([np.arange(20) * 2.0, 40.0 + np.arange(40) * 5.0])
    for t_s in (uniform, irregular):
        curves, cp = _dce_curves(t_s)
        for model in ("extended_tofts", "tofts"):
            fit_dce(curves.astype(np.float32), t_s=t_s, cp_mM=cp, model=model)

    # VFA T1: the nonlinear fit (the linear one shares its kernel).
    angles = np.array([2.0, 5.0, 10.0, 15.0])
    e1 = np.exp(-0.005 / np.array([0.8, 1.2, 1.6, 3.0]))
    sin_a, cos_a = np.sin(np.radians(angles)), np.cos(np.radians(angles))
    signal = 1000.0 * (1.0 - e1[:, None]) * sin_a / (1.0 - e1[:, None] * cos_a)
    fit_vfa_t1(signal.astype(np.float32), flip_angles_deg=angles, tr_s=0.005, nonlinear=True)

    # DSC: oSVD with its oscillation-index search.
    t = np.arange(40) * 1.5
    aif = np.where(t > 6, (t - 6) ** 3 * np.exp(-(t - 6) / 1.5), 0.0)
    residue = np.exp(-t[None, :] / np.array([2.0, 4.0, 6.0, 3.0])[:, None])
    tissue = np.stack([np.convolve(aif, r)[: t.size] * 1.5 * 0.02 for r in residue])
    for dtype in (np.float32, np.float64):  # the kernel works in the tissue curves' precision
        deconvolve(tissue.astype(dtype), aif, 1.5, method="osvd")

    # Lesions: the mid-sagittal plane search on a small ellipsoid "brain".
    x, y, z = np.mgrid[0:24, 0:28, 0:12]
    brain = ((x - 11.5) / 10) ** 2 + ((y - 13.5) / 12) ** 2 + ((z - 5.5) / 5) ** 2 < 1
    mid_sagittal_plane(brain, np.diag([2.0, 2.0, 4.0, 1.0]))

    return sorted(name for name, kernel in kernels().items() if kernel.signatures)  # type: ignore[attr-defined]


def main() -> None:
    started = time.perf_counter()
    compiled = warm_up()
    print(f"pseudoprog: {len(compiled)} compiled kernels ready ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
