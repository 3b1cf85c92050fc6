"""Lesions stage benchmark: one 4-sequence timepoint at 1 mm (240 × 240 × 155), ours vs peers, one run.

- **Whole timepoint** (issue target ≤ 30 s on 2 cores): T1, T2, FLAIR registered onto the T1c,
  brain mask, N4 on T1c and T1, segmentation, RANO measurement.
- **Registration** peer: SimpleITK's tutorial configuration (Mattes MI, pyramid 4-2-1, 10 %
  sampling, 200 iterations) against ours (pyramid 4-2, 5 %, 150), same moved phantom, with the
  error of each against the known pose.
- **Measurement** peer: SimpleITK ``LabelShapeStatisticsImageFilter`` with Feret diameter (the
  3D maximum caliper; the usual "lesion size" of generic tools, not a RANO product) against our
  RANO bidimensional measurement of the same mask, with the error of each against the truth.

Run: ``PYTHONPATH=src:. python -m benchmarks.lesions_bench``.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import SimpleITK as sitk

from pseudoprog.align import register, warp
from pseudoprog.align.bias import n4_bias_correct
from pseudoprog.align.brainmask import brain_mask
from pseudoprog.align.itk import sitk_transform_to_ras, volume_to_sitk
from pseudoprog.case import Volume
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import segment_lesions
from pseudoprog.phantoms.anatomy import Grid
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint, structural_series

GRID = Grid(shape=(240, 240, 155), spacing_mm=(1.0, 1.0, 1.0))


def _timepoint(scan: int):
    sc = SCENARIOS["true_progression"]
    tp = build_timepoint(sc, sc.scans[scan], seed=7, grid=GRID)
    return tp, {s.name: Volume(s.data, s.affine) for s in structural_series(tp)}


def _pose_error_mm(fixed_to_moving: np.ndarray, truth: np.ndarray) -> float:
    err = fixed_to_moving @ np.linalg.inv(truth)
    corners = np.array([[x, y, z, 1.0] for x in (-70, 70) for y in (-90, 90) for z in (-60, 60)]).T
    return float(np.abs((err @ corners - corners)[:3]).max())


def whole_timepoint(images: dict[str, Volume]) -> tuple[float, object]:
    t0 = time.perf_counter()
    t1c = images["T1c"]
    brain, _ = brain_mask(t1c)
    on_t1c = {}
    for name in ("T1", "T2", "FLAIR"):
        reg = register(t1c, images[name], kind="rigid", preset="structural", fixed_mask=brain)
        on_t1c[name] = warp(images[name], reg, t1c).data
    ref, _ = n4_bias_correct(t1c, mask=brain)
    t1, _ = n4_bias_correct(Volume(on_t1c["T1"], t1c.affine), mask=brain)
    lesions, _ = segment_lesions(ref.data, brain, ref.affine, t1=t1.data, flair=on_t1c["FLAIR"])
    m, _ = measure_lesion(lesions[0].enhancing, ref.affine, core=lesions[0].core, flair=lesions[0].flair)
    return time.perf_counter() - t0, m


def peer_registration(fixed: Volume, moving: Volume) -> np.ndarray:
    f, m = volume_to_sitk(fixed), volume_to_sitk(moving)
    init = sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.10, 1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsGradientDescent(learningRate=1.0, numberOfIterations=200)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SetInitialTransform(init, inPlace=False)
    return sitk_transform_to_ras(reg.Execute(f, m))


def peer_feret(mask: np.ndarray, affine: np.ndarray) -> float:
    from pseudoprog.align.itk import to_sitk

    img = to_sitk(mask.astype(np.uint8), affine)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.ComputeFeretDiameterOn()
    stats.Execute(img)
    return float(stats.GetFeretDiameter(1))


def _median_time(fn, repeats: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> None:
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    base_tp, base = _timepoint(0)
    moved_tp, moved = _timepoint(2)
    truth_pose = moved_tp.affine @ np.linalg.inv(base_tp.affine)
    truth = SCENARIOS["true_progression"].scans[2].lesions[0]

    seconds, m = whole_timepoint(moved)
    print(f"whole timepoint (4 sequences, 240x240x155 at 1 mm): {seconds:.1f} s (target <= 30 s)")
    print(f"  measured {m.long_mm} x {m.perp_mm} mm vs truth {truth.long_mm} x {truth.perp_mm} mm")

    t_ours, reg = _median_time(lambda: register(base["T1c"], moved["FLAIR"]), repeats=1)
    t_peer, peer = _median_time(lambda: peer_registration(base["T1c"], moved["FLAIR"]), repeats=1)
    print(
        f"registration FLAIR -> baseline T1c: ours {t_ours:.1f} s "
        f"(error {_pose_error_mm(reg.fixed_to_moving, truth_pose):.2f} mm), "
        f"SimpleITK tutorial {t_peer:.1f} s (error {_pose_error_mm(peer, truth_pose):.2f} mm); "
        f"ratio ours/peer = {t_ours / t_peer:.2f}"
    )

    mask = moved_tp.anatomy.lesion_masks["L1"]
    outline = mask | (moved_tp.labels == 8)  # enhancing rim + cavity (Tissue.CAVITY)
    t_m, (meas, _) = _median_time(lambda: measure_lesion(outline, moved_tp.affine))
    t_f, feret = _median_time(lambda: peer_feret(outline, moved_tp.affine))
    true_3d = 2 * max(truth.semi_axes_mm)
    print(
        f"measurement: ours (RANO long x perp) {1000 * t_m:.0f} ms -> {meas.long_mm} x {meas.perp_mm} mm "
        f"(truth {truth.long_mm} x {truth.perp_mm}); SimpleITK Feret {1000 * t_f:.0f} ms -> {feret:.1f} mm "
        f"(truth 3D max {true_3d:.1f}); ratio ours/peer = {t_m / t_f:.2f}"
    )


if __name__ == "__main__":
    main()
