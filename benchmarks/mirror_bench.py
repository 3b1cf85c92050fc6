"""The contralateral reference (rADC, ASL rCBF) on real brain masks turned in the scanner (benchmarks/RESULTS.md,
branch l21-mirror).

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src:. python -m benchmarks.mirror_bench
Each real brain mask (TCGA-DU-7294's HD-BET mask and the three BraTS 2013 masks, all in an atlas-like 1 mm space
with the head straight) is turned by a known yaw about its centre (nearest-neighbour resampling on the same grid, so
the head is oblique to the image axes), a 10 mm sphere is placed 55 mm to one side of the known midline (at the
brain's centre front to back, and 40 mm to the side 50 mm in front of it), and the sphere is mirrored by the
reference region (:func:`pseudoprog.perfusion.reference_region.contralateral_region`) and by the old mirror along
the image's left-right axis about the mask's centre of mass. The error is the distance (mm) from the mirrored
region's centroid to the sphere's centroid reflected across the known plane. The known plane is exact for the
symmetrised mask (the mask united with its mirror image across a voxel column) and, for the mask as it is, the
plane found on the straight head turned with it. A second table: whether the plane is trusted on the masks the markers
see on real maps (:func:`real_map_masks`). Prints markdown (benchmarks/results/mirror.md); nothing from the data is
written.
"""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from pseudoprog.lesions import segment
from pseudoprog.lesions.segment import mid_sagittal_fit, mid_sagittal_plane
from pseudoprog.perfusion import reference_region as rr
from pseudoprog.perfusion.reference_region import _mirror_along_axis

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MASKS = {
    "TCGA-DU-7294": "tcga-lgg-brats-toolkit/TCGA-DU-7294/mask_hdbet_brats-space/TCGA-DU-7294_hdbet_mask_brats.nii.gz",
    "BraTS 2013 pat0001": "real-glioma-labelled/brats_2013_pat0001_1/brainmask.nii.gz",
    "BraTS 2013 pat0002": "real-glioma-labelled/brats_2013_pat0002_1/brainmask.nii.gz",
    "BraTS 2013 pat0004": "real-glioma-labelled/brats_2013_pat0004_1/brainmask.nii.gz",
}


def load_mask(path: Path, margin: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """The brain mask cropped to its bounding box with ``margin`` voxels round it (room to turn), and its affine."""
    img = nib.load(str(path))
    m = np.asarray(img.dataobj) > 0
    idx = np.nonzero(m)
    lo = [max(int(i.min()) - margin, 0) for i in idx]
    hi = [int(i.max()) + margin + 1 for i in idx]
    pad = [(max(0, h - s), 0) for h, s in zip(hi, m.shape, strict=True)]
    m = np.pad(m, [(0, p[0]) for p in pad])
    crop = m[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    affine = img.affine.copy()
    affine[:3, 3] = img.affine[:3, :3] @ np.array(lo, dtype=float) + img.affine[:3, 3]
    return np.ascontiguousarray(crop), affine


def symmetrised(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``mask`` united with its mirror image across the voxel column nearest its own plane: (mask, normal, offset).

    The plane is exact: voxel index ``c`` along the image's left-right axis (0) of a grid with that axis along world
    x (as these masks are).
    """
    found, found_offset = mid_sagittal_plane(mask, affine)
    inv = np.linalg.inv(affine)
    centre_w = affine[:3, :3] @ (np.array(mask.shape) - 1) / 2 + affine[:3, 3]
    on_plane = centre_w - (found @ centre_w - found_offset) * found
    c = float(np.rint(2 * (inv[:3, :3] @ on_plane + inv[:3, 3])[0]) / 2)  # a whole or half voxel
    i = np.arange(mask.shape[0])
    src = np.rint(2 * c - i).astype(int)
    ok = (src >= 0) & (src < mask.shape[0])
    out = mask.copy()
    out[ok] |= mask[src[ok]]
    normal = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    point = affine[:3, :3] @ np.array([c, 0.0, 0.0]) + affine[:3, 3]
    return out, normal, float(normal @ point)


def yaw_matrix(yaw_deg: float, centre: np.ndarray) -> np.ndarray:
    """The world (4x4) turn by ``yaw_deg`` about the superior axis through ``centre``."""
    t = np.radians(yaw_deg)
    r = np.eye(4)
    r[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    to, back = np.eye(4), np.eye(4)
    to[:3, 3], back[:3, 3] = -centre, centre
    return back @ r @ to


def turned(mask: np.ndarray, affine: np.ndarray, world: np.ndarray) -> np.ndarray:
    """``mask`` with its content moved by the world transform ``world``, on the same grid (nearest neighbour)."""
    pull = np.linalg.inv(affine) @ np.linalg.inv(world) @ affine
    return ndimage.affine_transform(mask.astype(np.uint8), pull[:3, :3], offset=pull[:3, 3], order=0) > 0


def reflect(point: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    return point - 2.0 * (normal @ point - offset) * normal


def world_centroid(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return affine[:3, :3] @ np.argwhere(mask).mean(axis=0) + affine[:3, 3]


def sphere(shape: tuple[int, ...], affine: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Voxels whose centre lies within ``radius`` mm of ``centre`` (world)."""
    inv = np.linalg.inv(affine)
    c = inv[:3, :3] @ centre + inv[:3, 3]
    reach = radius / np.sqrt((affine[:3, :3] ** 2).sum(axis=0)) + 1
    lo = np.clip(np.floor(c - reach).astype(int), 0, shape)
    hi = np.clip(np.ceil(c + reach).astype(int) + 1, 0, shape)
    ijk = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
    ijk = ijk.reshape(-1, 3)
    inside = np.linalg.norm(ijk @ affine[:3, :3].T + affine[:3, 3] - centre, axis=1) <= radius
    out = np.zeros(shape, dtype=bool)
    v = ijk[inside]
    out[v[:, 0], v[:, 1], v[:, 2]] = True
    return out


def old_mirror(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The mirror before l21-mirror (main 8cc0a8a), kept as the fallback: along the image axis nearest left-right,
    about the brain mask's centre of mass."""
    return _mirror_along_axis(mask, brain, affine) & brain & ~mask


def case(
    brain: np.ndarray, affine: np.ndarray, normal: np.ndarray, offset: float, yaw_deg: float, site: tuple[float, float]
) -> dict[str, float | str | int]:
    """Turn ``brain`` (its known plane ``normal @ x == offset``) by ``yaw_deg``; mirror a sphere at ``site``
    (mm to the plane's positive side, mm anterior of the brain's centroid) both ways; errors in mm."""
    centroid = world_centroid(brain, affine)
    centre = centroid - (normal @ centroid - offset) * normal  # the brain's centre, on its plane
    world = yaw_matrix(yaw_deg, centre)
    rot = turned(brain, affine, world)
    n = world[:3, :3] @ normal
    d = float(n @ centre)  # the turn keeps ``centre`` (on the plane) in place
    anterior = np.array([0.0, 1.0, 0.0])  # RAS
    at = centre + site[0] * normal + site[1] * anterior
    roi = sphere(rot.shape, affine, (world @ np.append(at, 1.0))[:3], 10.0) & rot
    truth = reflect(world_centroid(roi, affine), n, d)
    segment._FITS.clear()  # time a search, not the memory of one
    t0 = time.perf_counter()
    found = rr.contralateral_region(roi, rot, affine)
    seconds = time.perf_counter() - t0
    old = old_mirror(roi, rot, affine)
    fit = mid_sagittal_fit(rot, affine)
    return {
        "method": found.midline.method,
        "plane_yaw": fit.yaw_deg,
        "n_roi": int(roi.sum()),
        "n_new": int(found.region.sum()),
        "n_old": int(old.sum()),
        "new_mm": float(np.linalg.norm(world_centroid(found.region, affine) - truth)),
        "old_mm": float(np.linalg.norm(world_centroid(old, affine) - truth)),
        "seconds": seconds,
    }


def main() -> None:
    print(
        "| mask | plane known from | yaw | lesion (lateral, anterior mm) | ROI / new / old voxels "
        "| plane found (yaw) | old error mm | new error mm | region incl. plane search ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rel in MASKS.items():
        path = DATA / rel
        if not path.exists():
            print(f"| {name} | (absent: {path}) |")
            continue
        mask, affine = load_mask(path)
        straight = mid_sagittal_fit(mask, affine)
        sym, n_sym, d_sym = symmetrised(mask, affine)
        for label, brain, normal, offset in (
            ("symmetrised (exact)", sym, n_sym, d_sym),
            ("straight head's plane, turned", mask, straight.normal, straight.offset),
        ):
            for yaw in (0.0, 9.0):
                for site in ((55.0, 0.0), (-55.0, 0.0), (40.0, 50.0)):
                    r = case(brain, affine, normal, offset, yaw, site)
                    print(
                        f"| {name} | {label} | {yaw:.0f}° | {site[0]:.0f}, {site[1]:.0f} "
                        f"| {r['n_roi']} / {r['n_new']} / {r['n_old']} | {r['method']} ({r['plane_yaw']:.1f}°) "
                        f"| {r['old_mm']:.1f} | {r['new_mm']:.1f} | {1e3 * float(r['seconds']):.0f} |",
                        flush=True,
                    )
    real_map_masks()


def real_map_masks() -> None:
    """Whether the plane is trusted on the masks the markers see: a real ADC map's finite voxels (the pipeline's own
    fit on a DWI) and a real pCASL series' bright-signal mask (its mean standing in for M0), volunteers from
    real-dicom-multivendor (dcm2niix reference NIfTI)."""
    from pseudoprog.align.brainmask import bright_signal_mask
    from pseudoprog.diffusion.adc import adc_map_from_series
    from pseudoprog.files import load_table

    root = DATA / "real-dicom-multivendor"
    print()
    print(
        "| map mask | grid | voxels | mirror overlap | lattice points | yaw, roll | shift mm | mirror "
        "| why not the plane |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for label, stem in (
        ("ADC, GE DWI", "dcm_qa_ge/Ref/Ax_DWI_TENSOR_R2_1"),
        ("ADC, Canon DTI", "dcm_qa_canon_61/Ref/3000_DTI_PA-ortho_enh"),
    ):
        found = sorted(root.glob(stem + ".nii*"))
        if not found:
            continue
        img = nib.load(str(found[0]))
        data = np.asarray(img.dataobj, dtype=float)
        b = tuple(float(v) for v in np.loadtxt(root / (stem + ".bval")))
        rows.append((label, data.shape[:3], img.affine, np.isfinite(adc_map_from_series(data, b).adc_mm2_s)))
    asl = root / "dcm_qa_xa30/Ref/25_asl_2d_tra.nii"
    if asl.exists():
        img = nib.load(str(asl))
        data = np.asarray(img.dataobj, dtype=float)
        brain = bright_signal_mask(
            data.mean(-1), fraction=load_table("perfusion", "asl_constants")["brain_fraction_of_m0_p90"]
        )
        rows.append(("ASL, Siemens XA30 pCASL", data.shape[:3], img.affine, brain))
    for label, shape, affine, brain in rows:
        fit = mid_sagittal_fit(brain, affine)
        segment._FITS.clear()  # time a search, not the memory of one
        mid = rr.find_midline(brain, affine)
        spacing = " x ".join(f"{v:g}" for v in np.round(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)), 2))
        print(
            f"| {label} | {' x '.join(map(str, shape))} ({spacing} mm) | {int(brain.sum())} | {fit.overlap:.3f} "
            f"| {fit.n_points} | {fit.yaw_deg:.1f}°, {fit.roll_deg:.1f}° | {fit.shift_mm:.1f} | {mid.method} "
            f"| {mid.reason} |"
        )


if __name__ == "__main__":
    main()
