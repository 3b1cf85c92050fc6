"""GE private headers: the slice order of a 2-D EPI series, for slice timing when no per-slice time is recorded.

GE writes per-slice times only in the RTIA timer (0021,105E) or TriggerTime, and many releases leave both zero.
The protocol data block (0025,101B) — a 4-byte little-endian length, then a gzip stream of ``KEY "value"`` lines —
says whether the slices were acquired in sequential (SLICEORDER "0") or interleaved ("1") order, and
(0019,1018) / (0019,101A) give the anatomical side of the first and last scanned slice. With the TR and the slice
count that gives the slice times of a continuous acquisition (no pause between volumes) — an estimate, as the
header holds no volume start time; the same method dcm2niix documents for GE (its GE/README, issue 311).
Multiband (HyperBand, (0043,10B6) first value > 1) releases order slices differently: not estimated here.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

PROTOCOL_BLOCK = (0x0025, 0x101B)
FIRST_SCAN_SIDE = (0x0019, 0x1018)
LAST_SCAN_SIDE = (0x0019, 0x101A)
HYPERBAND = (0x0043, 0x10B6)
_MAX_BLOCK_BYTES = 1 << 20  # a protocol block is a few kB compressed; refuse anything that inflates beyond 1 MB

# The LPS axis and its sign that each side letter points along (DICOM patient coordinates: +x L, +y P, +z S).
_SIDE_AXIS = {"R": (0, -1.0), "L": (0, 1.0), "A": (1, -1.0), "P": (1, 1.0), "I": (2, -1.0), "S": (2, 1.0)}


def protocol_fields(raw: bytes) -> dict[str, str]:
    """``KEY -> value`` of a GE protocol data block; ``{}`` when the bytes are not one."""
    if len(raw) < 8:
        return {}
    (length,) = struct.unpack_from("<I", raw, 0)
    stream = raw[4 : 4 + length] if 0 < length <= len(raw) - 4 else raw[4:]
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        text = inflater.decompress(stream, _MAX_BLOCK_BYTES)
    except (zlib.error, gzip.BadGzipFile, ValueError):
        return {}
    fields: dict[str, str] = {}
    for line in text.decode("latin-1").splitlines():
        m = re.match(r'\s*([A-Z0-9_]+)\s+"([^"]*)"', line)
        if m:
            fields[m.group(1)] = m.group(2)
    return fields


def _text(ds: Dataset, tag: tuple[int, int]) -> str:
    elem = ds.get(tag)
    if elem is None or elem.value is None:
        return ""
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ")
    if isinstance(value, (list, tuple, MultiValue)):  # backslash-separated values arrive as a MultiValue
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def slice_times_from_protocol(
    ds: Dataset, positions_lps: np.ndarray, *, repetition_time_ms: float | None
) -> np.ndarray | None:
    """Estimated acquisition time (ms) of each slice k of a GE 2-D series, or ``None`` when it cannot be said.

    ``ds`` is the header of one of the series' files; ``positions_lps`` (k × 3) are the slices'
    ImagePositionPatient in the layout's order. ``None`` for other vendors, a missing or unreadable protocol
    block, an unknown slice order, multiband, or no TR.
    """
    if repetition_time_ms is None or not repetition_time_ms > 0 or len(positions_lps) < 2:
        return None
    if "GE" not in _text(ds, (0x0008, 0x0070)).upper():
        return None
    hyperband = _text(ds, HYPERBAND).split("\\")[0]
    if hyperband.strip().isdigit() and int(hyperband) > 1:
        return None
    block = ds.get(PROTOCOL_BLOCK)
    if block is None or not isinstance(block.value, bytes):
        return None
    order = protocol_fields(block.value).get("SLICEORDER")
    first_side = _text(ds, FIRST_SCAN_SIDE).upper()[:1]
    if order not in ("0", "1") or first_side not in _SIDE_AXIS:
        return None
    axis, sign = _SIDE_AXIS[first_side]
    along = np.asarray(positions_lps, float)[:, axis] * sign
    # Rank 0 is the slice furthest towards the first-scanned side; the rest follow away from it.
    rank = np.empty(len(along), int)
    rank[np.argsort(-along, kind="stable")] = np.arange(len(along))
    n = len(along)
    if order == "0":
        shot = rank
    else:  # interleaved: ranks 0, 2, 4, … first, then 1, 3, 5, …
        shot = np.where(rank % 2 == 0, rank // 2, (n + 1) // 2 + rank // 2)
    return shot * (float(repetition_time_ms) / n)
