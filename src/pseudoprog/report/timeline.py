"""The timeline figure: enhancing-lesion size over time, with treatments and the post-radiotherapy window.

Drawn from the JSON form of an assessment only (``assessment.json``), so ``pseudoprog report`` can
redraw it without the images. Sizes are the sum of the bidimensional products (SPD, mm²) of the
enhancing lesions listed at each timepoint and their summed enhancing volume (cm³) where measured.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from matplotlib import dates as mdates
from matplotlib.figure import Figure

from ..files import load_table

_RADIATION = {"chemoradiation", "radiotherapy", "srs", "fsrt", "wbrt"}
# The 12-week window is a glioma rule after (chemo)radiotherapy (clinical_rules.md §1.3.3); not drawn for
# radiosurgery or for metastases (RANO-BM has no such window).
_WINDOW_AFTER = {"chemoradiation", "radiotherapy"}


@cache
def display_settings() -> dict[str, Any]:
    """The sourced numbers the report draws with (``report/data/display.yaml``)."""
    return load_table("report", "display")


@dataclass(frozen=True)
class SizePoint:
    date: dt.date
    spd_mm2: float | None  # None: no enhancing lesion with both diameters at this date
    volume_cm3: float | None
    n_lesions: int


def size_series(timepoints: Sequence[Mapping[str, Any]]) -> list[SizePoint]:
    """SPD and summed enhancing volume per timepoint from the JSON ``timepoints`` list."""
    points = []
    for tp in timepoints:
        lesions = [les for les in tp.get("lesions", ()) if les.get("enhancing", True)]
        products = []
        volumes = []
        for les in lesions:
            m = les.get("measurement") or {}
            if m.get("long_mm") is not None and m.get("perp_mm") is not None:
                products.append(float(m["long_mm"]) * float(m["perp_mm"]))
            if m.get("enhancing_volume_mm3") is not None:
                volumes.append(float(m["enhancing_volume_mm3"]) / 1000.0)
        points.append(
            SizePoint(
                date=dt.date.fromisoformat(str(tp["date"])),
                spd_mm2=sum(products) if products else None,
                volume_cm3=sum(volumes) if volumes else None,
                n_lesions=len(lesions),
            )
        )
    return points


def response_windows(data: Mapping[str, Any]) -> list[tuple[dt.date, dt.date]]:
    """The post-radiotherapy windows the timeline hatches: glioma cases, after each (chemo)radiotherapy course."""
    if (data.get("diagnosis") or {}).get("type") == "metastasis":
        return []
    weeks = int(display_settings()["response_window"]["weeks_after_radiotherapy"])
    out = []
    for t in data.get("treatments", ()):
        if str(t["type"]) in _WINDOW_AFTER:
            last = dt.date.fromisoformat(str(t.get("end") or t["start"]))
            out.append((last, last + dt.timedelta(weeks=weeks)))
    return out


def _treatment_marks(ax: Any, data: Mapping[str, Any], window_label: str) -> None:
    for t in data.get("treatments", ()):
        start = dt.date.fromisoformat(str(t["start"]))
        end = dt.date.fromisoformat(str(t["end"])) if t.get("end") else None
        kind = str(t["type"])
        if kind in _RADIATION:
            if end is not None and end > start:
                ax.axvspan(start, end, color="#f2c14e", alpha=0.35, lw=0, label=f"{kind} {start}–{end}")
            else:
                ax.axvline(start, color="#d08c00", lw=1.6, label=f"{kind} {start}")
        elif end is None and kind in ("surgery", "biopsy"):
            ax.axvline(start, color="#555", ls="--", lw=1.0, label=f"{kind} {start}")
        else:
            ax.axvline(start, color="#3a7ca5", ls=":", lw=1.2, label=f"{kind} start {start}")
    for first, last in response_windows(data):
        ax.axvspan(first, last, facecolor="none", edgecolor="#b04a00", hatch="//", lw=0, alpha=0.35, label=window_label)


def timeline_png(data: Mapping[str, Any], *, dpi: int = 150) -> bytes | None:
    """A PNG of SPD and enhancing volume over time, or ``None`` if no timepoint has a size.

    PNG rather than SVG: the hatched window and text-as-paths make a heavy SVG that slows the PDF
    layout several-fold, while 150 dpi prints sharply at the figure's size.

    Parameters
    ----------
    data
        The JSON form of an assessment (:meth:`Assessment.to_json_dict`).
    dpi
        Resolution of the PNG.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    points = size_series(data.get("timepoints", ()))
    spd = [(p.date, p.spd_mm2) for p in points if p.spd_mm2 is not None]
    vol = [(p.date, p.volume_cm3) for p in points if p.volume_cm3 is not None]
    if not spd and not vol:
        return None
    window = display_settings()["response_window"]
    rows = [r for r in (("spd", spd), ("volume", vol)) if r[1]]
    fig = Figure(figsize=(7.5, 2.2 * len(rows) + 0.6), dpi=dpi)
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    all_dates = [p.date for p in points] + [
        dt.date.fromisoformat(str(t["start"])) for t in data.get("treatments", ()) if t.get("start")
    ]
    for ax, (kind, series) in zip(axes, rows, strict=True):
        _treatment_marks(ax, data, str(window["label"]))
        xs = [d for d, _ in series]
        ys = [v for _, v in series]
        ax.plot(xs, ys, "o-", color="#1b3a5c", lw=2, ms=6, label="SPD" if kind == "spd" else "enhancing volume")
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{y:.0f}" if kind == "spd" else f"{y:.1f}",
                (x, y),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        ax.set_ylabel("SPD (mm²)" if kind == "spd" else "Enhancing volume (cm³)", fontsize=9)
        ax.set_ylim(bottom=0, top=max(ys) * 1.3 if max(ys) > 0 else 1.0)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    lo, hi = min(all_dates), max(all_dates)
    pad = dt.timedelta(days=max(14, (hi - lo).days // 20))
    axes[-1].set_xlim(lo - pad, hi + pad)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    for label in axes[-1].get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="upper center", ncol=3, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
