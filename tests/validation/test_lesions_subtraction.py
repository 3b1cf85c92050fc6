"""Automatic detection with a pre-contrast T1 (the T1c − T1 path) on real scans, through the product's own path.

Every other real-scan validation of automatic detection gives the T1c alone (with a FLAIR on BraTS). Here both TCGA-LGG
cases of ../shared/data/tcga-lgg-brats-toolkit are given as a user would (T1, T1c, T2, FLAIR in one session folder):
ingest registers the T1 onto the T1c and ``analyse_case`` detects.

* TCGA-DU-7294 is a lower-grade glioma with essentially no enhancing tumour (seven BraTS algorithms give 0-31
  enhancing voxels of ~20 000 tumour voxels): no target is the right answer. Before, with the T1 the noise guard
  refused the scan (14 separate candidates: the plexus and deep veins, which enhance, stand far above T1c − T1's narrow
  brain spread), so a tumour there could not have been found at all.
* Lesions of known extent are inserted into the real T1c only (real noise kept, partial volume at their edges,
  :func:`insert_lesion`), the T1 left as acquired: with the T1 each is found with the Dice measured
  (benchmarks/RESULTS.md, "Automatic detection with a pre-contrast T1") and nothing else is taken. Before, both were
  refused by the noise guard (15 and 11 "separate candidates"); a 30 mm ring inserted into FG-6692 was missed while
  two targets were taken, one away from every lesion (now "not reliable", as on the T1c alone).
* The same structure inserted into the T1 too (bright before contrast: blood products) is not taken with the T1.

Images are written to temporary folders, never into the repository.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case

from ..conftest import shared_data
from .test_lesions_product_path import _case_yaml

pytestmark = pytest.mark.validation

DATE = dt.date(2019, 6, 1)


def tcga_files(name: str) -> dict[str, Path]:
    """The four series of a TCGA case, by kind (t1c, t1, t2, fla)."""
    if name == "TCGA-DU-7294":
        d = shared_data("tcga-lgg-brats-toolkit", name, "hdbet_native-space")
        return {s: d / f"{name}_hdbet_native_{s}.nii.gz" for s in ("t1c", "t1", "t2", "fla")}
    d = shared_data("tcga-lgg-brats-toolkit", f"{name}_raw")
    return {f.name.split("_")[-1].removesuffix(".nii.gz"): f for f in d.glob("*.nii.gz")}


def coverage(shape: tuple[int, ...], affine: np.ndarray, centre_mm: np.ndarray, radius_mm: float) -> np.ndarray:
    """The fraction of each voxel inside a ball (world mm), by 3 × 3 × 3 supersampling: partial volume at its edge."""
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    inv = np.linalg.inv(affine)
    at = inv[:3, :3] @ centre_mm + inv[:3, 3]
    half = np.ceil(radius_mm / spacing).astype(int) + 2
    lo = np.maximum(np.floor(at).astype(int) - half, 0)
    hi = np.minimum(np.floor(at).astype(int) + half + 1, shape)
    grid = np.stack(np.meshgrid(*[np.arange(lo[i], hi[i]) for i in range(3)], indexing="ij"), axis=-1)
    inside = np.zeros(grid.shape[:3], dtype=np.float32)
    offsets = (np.arange(3) + 0.5) / 3 - 0.5
    for a in offsets:
        for b in offsets:
            for c in offsets:
                world = (grid + np.array([a, b, c])) @ affine[:3, :3].T + affine[:3, 3]
                inside += np.linalg.norm(world - centre_mm, axis=-1) <= radius_mm
    out = np.zeros(shape, dtype=np.float32)
    out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = inside / 27.0
    return out


def brain_point(brain: np.ndarray, affine: np.ndarray, frac: tuple[float, float, float]) -> np.ndarray:
    """The world point at fractional position ``frac`` (0-1 per axis) of the brain's bounding box."""
    idx = np.argwhere(brain)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    return affine[:3, :3] @ (lo + np.asarray(frac) * (hi - lo)) + affine[:3, 3]


def insert_lesion(
    img: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    centre_mm: np.ndarray,
    diameter_mm: float,
    ratio: float,
    rim_mm: float | None = None,
    core_ratio: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """``img`` with an enhancing lesion added (the image's own noise kept): a ball of ``diameter_mm`` at ``ratio`` ×
    the local white matter (the upper quartile of the brain 5-15 mm round it, bright on a T1), or a ring of
    ``rim_mm`` round a core at ``core_ratio`` × white matter. Returns the image and the truth (enhancing voxels at
    least half inside)."""
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    r = diameter_mm / 2.0
    outer = coverage(img.shape, affine, centre_mm, r)
    inner = coverage(img.shape, affine, centre_mm, r - rim_mm) if rim_mm else np.zeros_like(outer)
    d = ndimage.distance_transform_edt(outer == 0, sampling=spacing)
    wm = float(np.percentile(img[(d > 5.0) & (d <= 15.0) & brain], 75))
    rim = outer - inner
    out = img + (ratio - 1.0) * wm * rim + (core_ratio - 1.0) * wm * inner
    return out.astype(np.float32), rim >= 0.5


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine  # type: ignore[attr-defined]


def case_folder(folder: Path, name: str, *, kinds=("t1c", "t1", "t2", "fla"), t1c=None, t1=None):
    """A user's case folder of a TCGA case: the series of ``kinds`` linked as the data folder names them, or written
    (``t1c``/``t1``: modified images on the series' own grid, saved with its header)."""
    files = tcga_files(name)
    session = folder / str(DATE)
    session.mkdir()
    for kind in kinds:
        src = files[kind]
        new = {"t1c": t1c, "t1": t1}.get(kind)
        if new is None:
            (session / src.name).symlink_to(src)
        else:
            img = nib.load(str(src))
            nib.save(nib.Nifti1Image(new, img.affine, img.header), session / src.name)  # type: ignore[attr-defined]
    (folder / "case.yaml").write_text(_case_yaml("REAL-1", DATE))
    return folder


def analysed(folder: Path):
    case = ingest_case(folder, allow_roots=(shared_data("tcga-lgg-brats-toolkit"),)).case
    result = analyse_case(case)
    assert not result.skipped, result.skipped
    (tl,) = result.timepoints.values()
    return tl


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


def _brain(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The T1c as acquired, its affine and the product's brain mask on it."""
    from pseudoprog.align.brainmask import brain_mask
    from pseudoprog.case import Volume

    t1c, affine = _load(tcga_files(name)["t1c"])
    return t1c, affine, brain_mask(Volume(t1c, affine))[0]


def test_du_7294_with_its_t1_has_no_target_and_says_so(tmp_path):
    tl = analysed(case_folder(tmp_path, "TCGA-DU-7294"))  # before: refused, 14 "separate candidates"
    assert tl.registrations["T1"].accepted or not tl.registrations["T1"].optimised
    assert tl.lesions == [], [les.statement() for les in tl.lesions]
    assert any("found no enhancing lesion" in n for n in tl.notes), tl.notes


@pytest.mark.parametrize("kinds", [("t1c",), ("t1c", "t1", "t2", "fla")])
def test_fg_6692_s_own_lesion_is_found_whatever_a_few_voxels_of_its_brain_mask_do(tmp_path, kinds):
    """FG-6692's ring-enhancing lesion (right frontal, ~740 voxels about voxel (82, 136, 17); decided by eye,
    benchmarks/RESULTS.md, l25-sub). Keeping the brain mask's first slice (35 voxels the affine path dropped by float
    noise) moved the brain's whole-number median T1c a unit and its robust SD 4 %, and automatic detection said "not
    reliable" with the T1c alone and with all four series; the median is now read within its run of ties
    (segment._tied_median, session 42)."""
    tl = analysed(case_folder(tmp_path, "TCGA-FG-6692", kinds=kinds))
    assert len(tl.lesions) == 1, [les.statement() for les in tl.lesions]
    mask = tl.lesions[0].enhancing
    centre = np.array(ndimage.center_of_mass(mask))
    assert 500 <= mask.sum() <= 1000
    assert np.abs(centre - np.array([82.0, 136.0, 17.0])).max() <= 6.0, centre


# Inserted into the real T1c only: (case, position in the brain's box, diameter mm, × white matter, rim mm or None,
# the Dice bar). Measured Dice with the T1 (benchmarks/RESULTS.md, "Automatic detection with a pre-contrast T1").
INSERTED = {
    "DU-7294 solid 20 mm x1.8": ("TCGA-DU-7294", (0.7, 0.45, 0.55), 20.0, 1.8, None, 0.75),
    "FG-6692 solid 20 mm x1.8": ("TCGA-FG-6692", (0.7, 0.45, 0.55), 20.0, 1.8, None, 0.7),
}


@pytest.mark.parametrize("which", list(INSERTED))
def test_a_lesion_inserted_into_the_t1c_only_is_found_with_the_t1_and_nothing_else_is(tmp_path, which):
    name, frac, diameter, ratio, rim, bar = INSERTED[which]
    t1c, affine, brain = _brain(name)
    new, truth = insert_lesion(t1c, brain, affine, brain_point(brain, affine, frac), diameter, ratio, rim)
    tl = analysed(case_folder(tmp_path, name, kinds=("t1c", "t1"), t1c=new))  # no FLAIR: no oedema was inserted
    assert tl.reference.spatial_shape == truth.shape
    assert tl.lesions, tl.notes
    best = max(tl.lesions, key=lambda les: _dice(les.enhancing, truth))
    assert _dice(best.enhancing, truth) >= bar, [n for n in tl.notes]
    near = ndimage.binary_dilation(truth, iterations=5)
    others = [les for les in tl.lesions if les is not best]
    if name == "TCGA-DU-7294":
        assert others == [], [les.statement() for les in others]
    else:  # FG-6692 has its own ring-enhancing lesion (right frontal): the only other target allowed
        assert len(others) <= 1
        for les in others:
            assert not (les.enhancing & near).any()


def bright_before_contrast(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 20 mm ball × 1.8 white matter inserted into the T1c and, at the same world place, into the T1 (on its own
    grid) — bright before contrast, as blood products are. Returns the T1c, its truth, the T1 and the ball's centre."""
    t1c, affine, brain = _brain(name)
    centre = brain_point(brain, affine, (0.7, 0.45, 0.55))
    new, truth = insert_lesion(t1c, brain, affine, centre, 20.0, 1.8)
    t1, t1_affine = _load(tcga_files(name)["t1"])
    t1_new, _ = insert_lesion(t1, t1 > 0, t1_affine, centre, 20.0, 1.8)
    return new, truth, t1_new, centre


def test_a_structure_as_bright_on_the_t1_is_not_taken_with_the_t1(tmp_path):
    """The same ball inserted into the T1 (on its own 5 mm grid) as into the T1c — bright before contrast, as blood
    products are — is found on the T1c alone and not with the T1 (the T1 confirms every automatic target)."""
    name = "TCGA-DU-7294"
    new, truth, t1_new, _ = bright_before_contrast(name)
    tl = analysed(case_folder(tmp_path, name, kinds=("t1c", "t1"), t1c=new, t1=t1_new))
    assert not [les for les in tl.lesions if (les.enhancing & truth).any()], [les.statement() for les in tl.lesions]
    assert any("as bright on the pre-contrast T1" in n for n in tl.notes), tl.notes
