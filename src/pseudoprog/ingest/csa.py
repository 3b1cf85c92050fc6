"""Siemens CSA header (private tags (0029,1010) image and (0029,1020) series): the fields ingest needs.

The CSA2 layout ("SV10" magic): a 16-byte preamble with the tag count, then per tag a 64-byte name,
VM, VR, SyngoDT, item count and a check word (int32 each), then per item four int32 (the second is the
item length) and the value padded to 4 bytes. The old CSA1 layout has no magic and the same tag records.
Only text values are decoded; callers convert what they need.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.dataset import Dataset

_IMAGE_HEADER = (0x0029, 0x1010)


def parse_csa(raw: bytes) -> dict[str, list[str]]:
    """Tag name → its non-empty item values (as text). ``{}`` when the bytes are not a CSA header."""
    if len(raw) < 16:
        return {}
    if raw[:4] == b"SV10":
        n_tags = struct.unpack_from("<I", raw, 8)[0]
        pos = 16
    else:
        n_tags = struct.unpack_from("<I", raw, 0)[0]
        pos = 8
    if not 0 < n_tags <= 1000:
        return {}
    out: dict[str, list[str]] = {}
    for _ in range(n_tags):
        if pos + 84 > len(raw):
            break
        name = raw[pos : pos + 64].split(b"\x00", 1)[0].decode("latin-1")
        n_items = struct.unpack_from("<i", raw, pos + 76)[0]
        pos += 84
        values: list[str] = []
        for _ in range(max(0, n_items)):
            if pos + 16 > len(raw):
                break
            length = struct.unpack_from("<i", raw, pos + 4)[0]
            pos += 16
            if length < 0 or pos + length > len(raw):
                return out
            text = raw[pos : pos + length].split(b"\x00", 1)[0].decode("latin-1").strip()
            if text:
                values.append(text)
            pos += (length + 3) // 4 * 4
        out[name] = values
    return out


def image_csa(ds: Dataset) -> dict[str, list[str]]:
    """The CSA image header of a Siemens object, ``{}`` when absent."""
    if _IMAGE_HEADER not in ds:
        return {}
    value: Any = ds[_IMAGE_HEADER].value
    return parse_csa(bytes(value)) if isinstance(value, (bytes, bytearray)) else {}


def csa_floats(csa: dict[str, list[str]], name: str) -> list[float]:
    out = []
    for v in csa.get(name, []):
        try:
            out.append(float(v))
        except ValueError:
            continue
    return out
