"""Files the reading-room viewer (NiiVue) shows: per date the T1c, the lesion outline and the rCBV/ADC/Ktrans maps.

All NIfTI in RAS+ world coordinates, so NiiVue overlays maps on their own grids onto the T1c.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..files import write_atomic, write_nifti
from ..ingest import ingest_case, load_series

log = logging.getLogger(__name__)

# Map name in the viewer → file written by the maps stage (out/maps/DATE/…).
MAP_FILES = {"rcbv": "dsc_rcbv.nii.gz", "adc": "adc_adc.nii.gz", "ktrans": "dce_ktrans.nii.gz"}
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _outline(mask: np.ndarray) -> np.ndarray:
    """In-plane rim of a mask (mask minus its 2D erosion), so the T1c stays visible inside the lesion.

    The SEG volume is indexed (frame, row, column): axis 0 is the slice, erosion runs over axes 1 and 2.
    """
    inner = ndimage.binary_erosion(mask, structure=np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool))
    return mask & ~inner


def _lesion_outline(seg_path: Path, dest: Path) -> bool:
    import highdicom as hd

    seg = hd.seg.segread(seg_path)
    labels = [str(s.SegmentLabel) for s in seg.SegmentSequence]
    wanted = [i for i, lab in enumerate(labels) if "enhancing" in lab and "non-enhancing" not in lab]
    if not wanted:
        return False
    vol = seg.get_volume(combine_segments=False)
    mask = np.any(vol.array[..., wanted] > 0, axis=-1)
    write_nifti(dest, _outline(mask).astype(np.uint8), _LPS_TO_RAS @ np.asarray(vol.affine), dtype=np.uint8)
    return True


def prepare_viewer_files(case_dir: Path, out_dir: Path) -> dict[str, dict[str, str]]:
    """Write ``out/viewer/DATE/*.nii.gz`` and ``out/viewer/index.json``; a missing piece is left out, not faked."""
    index: dict[str, dict[str, str]] = {}
    case = ingest_case(case_dir).case
    for tp in case.timepoints:
        key = tp.date.isoformat()
        entry: dict[str, str] = {}
        folder = out_dir / "viewer" / key
        t1c = tp.reference_t1c()
        if t1c is not None:
            try:
                volume, _ = load_series(t1c)
                write_nifti(folder / "t1c.nii.gz", volume.data, volume.affine)
                entry["t1c"] = f"viewer/{key}/t1c.nii.gz"
            except Exception as exc:  # the viewer is a convenience: its failure must not fail the assessment
                log.warning("viewer: T1c not converted (%s)", type(exc).__name__)
        seg = out_dir / "dicom" / key / "seg-lesions.dcm"
        if seg.exists():
            try:
                if _lesion_outline(seg, folder / "lesion.nii.gz"):
                    entry["lesion"] = f"viewer/{key}/lesion.nii.gz"
            except Exception as exc:
                log.warning("viewer: lesion outline not converted (%s)", type(exc).__name__)
        for name, file in MAP_FILES.items():
            if (out_dir / "maps" / key / file).exists():
                entry[name] = f"maps/{key}/{file}"
        if entry:
            index[key] = entry
    write_atomic(out_dir / "viewer" / "index.json", json.dumps(index, indent=1))
    return index
