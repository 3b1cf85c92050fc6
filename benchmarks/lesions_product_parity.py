"""Product-path parity on real scans (issue 13, l24-parity): case folder → ingest → ``analyse_case`` vs the bench.

For every real scan with a lesion reference (and the TCGA T1c scans, which have none), a case folder is built in a
temporary folder the way a user would (case.yaml; the images as named in the data folder, except TCIA's, written
with the assumed 5 mm slices), run through ``ingest_case`` + ``analyse_case``, and compared with the direct path of
benchmarks/lesions_real_bench.py (``brain_mask`` + ``segment_lesions`` on the loaded image).

    PYTHONPATH=src:. python -m benchmarks.lesions_product_parity [CASE-SUBSTRING]

Prints a markdown table (copied into benchmarks/RESULTS.md). Nothing from the data is written into the repository.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import SeriesKind, Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case
from pseudoprog.lesions.segment import segment_lesions

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATE = dt.date(2019, 6, 1)
BRATS = ["brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1"]
TCGA = ["TCGA-DU-7294", "TCGA-FG-6692"]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine  # type: ignore[attr-defined]


def build(name: str, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, tuple]:
    """Write the case folder of ``name``; return the direct path's T1c, affine, FLAIR, the reference, allow_roots."""
    from tests.validation.test_lesions_product_path import _case_yaml
    from tests.validation.test_lesions_real_more import _load_remind, tcia_scan

    session = folder / str(DATE)
    yaml = _case_yaml("REAL-1", DATE)
    if name.startswith("brats"):
        d = DATA / "real-glioma-labelled" / name
        session.mkdir()
        for f in ("T1c_subtrMeanDivStd.nii.gz", "Flair_subtrMeanDivStd.nii.gz"):  # as the data folder names them
            (session / f).symlink_to(d / f)
        t1c, aff = _load(d / "T1c_subtrMeanDivStd.nii.gz")
        flair = _load(d / "Flair_subtrMeanDivStd.nii.gz")[0]
        ref = _load(d / "OTMultiClass.nii.gz")[0].astype(int) == 4
        roots: tuple = (DATA,)
    elif name == "remind":
        import pydicom

        dicom = DATA / "real-glioma-dicom-remind" / "3DAXT1postcontrast_MRI"
        head = pydicom.dcmread(str(sorted(dicom.glob("*.dcm"))[0]), stop_before_pixels=True)
        date = dt.datetime.strptime(head.StudyDate, "%Y%m%d").date()
        (folder / str(date)).symlink_to(dicom, target_is_directory=True)
        yaml = _case_yaml(head.PatientID, date)
        t1c, aff, ref = _load_remind()
        flair, roots = None, (dicom,)
    elif name.startswith("TCGA"):
        session.mkdir()
        if name == "TCGA-DU-7294":
            d = DATA / "tcga-lgg-brats-toolkit" / name / "hdbet_native-space"
            files = [d / f"{name}_hdbet_native_{s}.nii.gz" for s in ("t1c", "fla", "t1", "t2")]
        else:
            d = DATA / "tcga-lgg-brats-toolkit" / f"{name}_raw"
            files = sorted(d.glob("*.nii.gz"))
        for f in files:
            (session / f.name).symlink_to(f)
        t1c, aff = _load(next(f for f in files if f.name.endswith("t1c.nii.gz")))
        flair, ref, roots = None, None, (DATA,)
    else:  # TCIA NN/Pre|Post at the assumed 5 mm slices, written as t1c.nii.gz (its own name reads as a T1)
        t1c, aff, ref = tcia_scan(name)
        session.mkdir()
        nib.save(nib.Nifti1Image(t1c, aff), session / "t1c.nii.gz")
        flair, roots = None, ()
    (folder / "case.yaml").write_text(yaml)
    return t1c, aff, flair, ref, roots


def _match(a: list[np.ndarray], b: list[np.ndarray]) -> list[float]:
    """For each mask of ``a``, its best Dice with a mask of ``b`` (0 when ``b`` is empty)."""
    return [max((_dice(x, y) for y in b), default=0.0) for x in a]


def run(name: str, cli: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="l24-") as tmp:
        folder = Path(tmp)
        t1c, aff, flair, ref, roots = build(name, folder)
        t0 = time.perf_counter()
        direct_brain, _ = brain_mask(Volume(t1c, aff))
        try:
            direct, dnotes = segment_lesions(t1c, direct_brain, aff, flair=flair)
        except CannotAssessError as exc:
            direct, dnotes = [], [f"refused: {exc}"]
        t_direct = time.perf_counter() - t0
        t0 = time.perf_counter()
        ing = ingest_case(folder, allow_roots=roots)
        case = ing.case
        kinds = [s.kind.value for tp in case.timepoints for s in tp.series]
        result = analyse_case(case)
        t_product = time.perf_counter() - t0
        out = {"name": name, "kinds": kinds, "ingest_warnings": list(ing.warnings), "t_direct": t_direct}
        out["t_product"] = t_product
        out["skipped"] = result.skipped
        if cli:
            out["cli"] = _cli(folder, roots)
    if result.skipped:
        return out
    (tl,) = result.timepoints.values()
    same_grid = tl.reference.spatial_shape == t1c.shape[:3] and np.allclose(tl.reference.affine, aff, atol=1e-3)
    out["same_grid"] = same_grid
    if not same_grid:
        return out
    prod = [les.enhancing for les in tl.lesions]
    dmasks = [les.enhancing for les in direct]
    out.update(
        brain_dice=_dice(tl.brain, direct_brain),
        brain_method=tl.brain_method,
        n_product=len(prod),
        n_direct=len(dmasks),
        product_vs_direct=_match(prod, dmasks),
        direct_vs_product=_match(dmasks, prod),
        registrations={
            k: (r.kind, r.optimised, r.accepted, round(r.metric_before, 3), round(r.metric_after, 3))
            for k, r in tl.registrations.items()
        },
        product_notes=tl.notes,
        direct_notes=dnotes,
        methods=[les.method for les in tl.lesions],
    )
    if flair is not None and SeriesKind.FLAIR in tl.images:
        out["flair_same"] = bool(np.allclose(tl.images[SeriesKind.FLAIR], flair, atol=1e-4))
    if ref is not None:
        near = ndimage.binary_dilation(ref, iterations=5)
        out["product_ref"] = [_dice(m, ref) for m in prod]
        out["direct_ref"] = [_dice(m, ref) for m in dmasks]
        out["product_near"] = [float(near[m].mean()) for m in prod]
    return out


def _cli(folder: Path, roots: tuple) -> str:
    from typer.testing import CliRunner

    from pseudoprog.cli import app

    args = ["lesions", str(folder), "--out", str(folder / "out")]
    for r in roots:
        args += ["--allow-root", str(r)]
    res = CliRunner().invoke(app, args)
    return f"exit {res.exit_code}: {res.output}"


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs) if xs else "—"


def row(r: dict) -> str:
    if r.get("skipped"):
        times = f"{r['t_product']:.0f} / {r['t_direct']:.0f}"
        return f"| {r['name']} | {'+'.join(r['kinds'])} | skipped: {r['skipped']} | | | | | {times} |"
    if not r.get("same_grid", True):
        return f"| {r['name']} | {r['kinds']} | product grid differs from the loaded image | | | | | |"
    return (
        f"| {r['name']} | {'+'.join(r['kinds'])} | {r['brain_dice']:.3f} | {r['n_product']} / {r['n_direct']} | "
        f"{_fmt(r['product_vs_direct'])} | {_fmt(r.get('product_ref', []))} / {_fmt(r.get('direct_ref', []))} | "
        f"{_fmt(r.get('product_near', []))} | {r['t_product']:.0f} / {r['t_direct']:.0f} |"
    )


if __name__ == "__main__":
    import sys

    from tests.validation.test_lesions_real_more import TCIA_ALL

    only = next((a for a in sys.argv[1:] if not a.startswith("--")), "")
    print(
        "| scan | series (ingest) | brain Dice product vs direct | lesions product / direct | lesion Dice product vs "
        "direct | Dice vs reference product / direct | product near ref | time product / direct (s) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    seen_cli: set[str] = set()
    for name in [*BRATS, "remind", *TCIA_ALL, *TCGA]:
        if only and only not in name:
            continue
        dataset = "tcia" if "/" in name else name.split("_")[0]  # the CLI once per dataset
        res = run(name, cli=dataset not in seen_cli or "--cli" in sys.argv)
        seen_cli.add(dataset)
        print(row(res), flush=True)
        extra = {k: res.get(k) for k in ("registrations", "flair_same", "methods", "brain_method", "ingest_warnings")}
        print(f"<!-- {name}: {extra}", flush=True)
        if res.get("product_notes") != res.get("direct_notes"):
            print(f"  product notes: {res.get('product_notes')}\n  direct notes: {res.get('direct_notes')}")
        if "cli" in res:
            print("  CLI: " + res["cli"].replace("\n", "\n       "))
        print("-->", flush=True)
