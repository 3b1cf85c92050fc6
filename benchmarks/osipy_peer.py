"""Runs inside osipy's own Python ≥ 3.12 environment (made by :func:`benchmarks.peers.osipy_python`).

Usage: ``python osipy_peer.py TASK IN.npz OUT.npz`` with TASK ``dsc``, ``dce`` or ``vfa``. Reads the arrays the
benchmark wrote, times osipy's public functions on them (after one small warm-up call) and writes the results and
the wall time. Only numpy and osipy are imported here (this file must not import pseudoprog).
"""

from __future__ import annotations

import sys
import time

import numpy as np


def dsc(d: dict) -> dict:
    from osipy.dsc import LeakageCorrectionParams, compute_perfusion_maps, correct_leakage, signal_to_delta_r2

    signal, aif, t, mask = d["signal"], d["aif"], d["times_s"], d["mask"].astype(bool)
    te_ms, n_base = float(d["te_ms"]), int(d["baseline_frames"])

    def run(sig: np.ndarray, m: np.ndarray) -> tuple:
        drs = signal_to_delta_r2(sig, te=te_ms, baseline_frames=n_base)
        leak = correct_leakage(drs, aif, t, mask=m, params=LeakageCorrectionParams(method="bsw"))
        maps = compute_perfusion_maps(leak.corrected_delta_r2, aif, t, mask=m, deconvolution_method="oSVD")
        return maps

    cx, cy, cz = (int(np.mean(i)) for i in np.nonzero(mask))
    warm = (slice(cx - 8, cx + 8), slice(cy - 8, cy + 8), slice(cz, cz + 2))  # a brain block: warm-up call
    run(signal[warm], mask[warm])
    t0 = time.perf_counter()
    maps = run(signal, mask)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "cbf": np.asarray(maps.cbf.values), "cbv": np.asarray(maps.cbv.values)}


def dce(d: dict) -> dict:
    from osipy.dce import fit_model

    conc, cp, t = d["conc"], d["cp"], d["times_s"]
    shape = conc.shape[:-1]
    conc = conc.reshape(*shape, *(1,) * (4 - conc.ndim), conc.shape[-1])  # osipy wants (x, y, z, t)
    fit_model("extended_tofts", conc[:2, :2], cp, t)
    t0 = time.perf_counter()
    res = fit_model("extended_tofts", conc, cp, t)
    wall = time.perf_counter() - t0
    maps = res.parameter_maps
    key = next(k for k in maps if k.lower() == "ktrans")
    return {"wall_s": wall, "ktrans": np.asarray(maps[key].values).reshape(shape), "keys": np.array(sorted(maps))}


def vfa(d: dict) -> dict:
    from osipy.dce.t1_mapping import compute_t1_vfa

    s, fa, tr_ms = d["signal"], d["flip_deg"], float(d["tr_ms"])
    s = s.reshape(-1, 1, 1, s.shape[-1])  # osipy wants a 4D image: (x, y, z, angles)
    out: dict = {}
    for method in ("linear", "nonlinear"):
        compute_t1_vfa(signal=s[:4], flip_angles=fa, tr=tr_ms, method=method)
        t0 = time.perf_counter()
        res = compute_t1_vfa(signal=s, flip_angles=fa, tr=tr_ms, method=method)
        out[f"{method}_wall_s"] = time.perf_counter() - t0
        out[f"{method}_t1_ms"] = np.asarray(res.t1_map.values).reshape(-1)
    return out


def main() -> None:
    task, src, dst = sys.argv[1:4]
    with np.load(src) as f:
        d = {k: f[k] for k in f.files}
    out = {"dsc": dsc, "dce": dce, "vfa": vfa}[task](d)
    import osipy

    out["version"] = np.array(getattr(osipy, "__version__", "?"))
    np.savez(dst, **out)


if __name__ == "__main__":
    main()
