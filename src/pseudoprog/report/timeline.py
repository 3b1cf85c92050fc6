"""The timeline figure: enhancing-lesion size over time, with treatments and the post-radiotherapy window.

Drawn from the JSON form of an assessment only (``assessment.json``), so ``pseudoprog report`` can
redraw it without the images. The size plotted is the one the heading criterion uses (:func:`criterion_quantity`):
the sum of longest diameters (mm) for RANO-BM, the sum of bidimensional products (SPD, mm²) for
RANO / mRANO / RANO 2.0 / iRANO / Macdonald, the enhancing volume (cm³) for a volumetric call; the summed
enhancing volume is drawn alongside (right axis, cm³) when measured and not already the criterion's.
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


@dataclass(frozen=True)
class CriterionQuantity:
    method: str  # "unidimensional" | "bidimensional" | "volumetric" (pseudoprog.criteria.timeline.METHODS)
    what: str  # 'Sum of longest diameters'
    label: str  # the figure's title: what is summed, the unit and the criterion
    short: str  # 'SLD', 'SPD', 'volume'
    unit: str  # display unit ('mm', 'mm²', 'cm³')
    scale: float  # display = stored × scale (volumes are stored in mm³)


_QUANTITIES = {
    "unidimensional": ("Sum of longest diameters", "SLD", "mm", 1.0),
    "bidimensional": ("Sum of products of diameters", "SPD", "mm²", 1.0),
    "volumetric": ("Enhancing volume", "volume", "cm³", 0.001),
}


def _driving_method(data: Mapping[str, Any]) -> str:
    """The measurement the heading criterion's call was made on: from its per-scan rows, else its name."""
    response = data.get("response") or {}
    for row in response.get("per_timepoint") or ():
        for key in ("nadir", "baseline"):
            ref = row.get(key) if isinstance(row, Mapping) else None
            if isinstance(ref, Mapping) and ref.get("method") in _QUANTITIES:
                return str(ref["method"])
    name = str(response.get("criteria") or "").lower()
    if "volum" in name:
        return "volumetric"
    if "bm" in name.replace("-", " ").split() or name.endswith("-bm"):
        return "unidimensional"
    if (data.get("diagnosis") or {}).get("type") == "metastasis" and not name:
        return "unidimensional"
    return "bidimensional"


def criterion_quantity(data: Mapping[str, Any]) -> CriterionQuantity:
    """What the timeline plots: the quantity of the heading criterion (RANO-BM: longest diameters)."""
    method = _driving_method(data)
    what, short, unit, scale = _QUANTITIES[method]
    crit = (data.get("response") or {}).get("criteria")
    label = f"{what} ({unit})" + (f", {crit}" if crit else "")
    return CriterionQuantity(method, what, label, short, unit, scale)


def criterion_series(data: Mapping[str, Any]) -> list[tuple[dt.date, float]]:
    """Per scan, the heading criterion's burden in its display unit.

    The criteria stage's own burden (its target lesions) where it recorded one; otherwise the sum over the
    enhancing lesions listed at the scan (longest diameters, products of diameters or volumes).
    """
    q = criterion_quantity(data)
    recorded: dict[str, float] = {}
    for row in (data.get("response") or {}).get("per_timepoint") or ():
        burden = row.get("burden") if isinstance(row, Mapping) else None
        if isinstance(burden, Mapping) and isinstance(burden.get(q.method), (int, float)):
            recorded[str(row.get("date"))] = float(burden[q.method])
    out = []
    for tp in data.get("timepoints", ()):
        date = str(tp["date"])
        value = recorded.get(date)
        if value is None:
            sizes = []
            for les in tp.get("lesions", ()):
                if not les.get("enhancing", True):
                    continue
                m = les.get("measurement") or {}
                if q.method == "unidimensional":
                    ld = m.get("longest_diameter_mm")
                    size = ld if ld is not None else m.get("long_mm")
                elif q.method == "bidimensional":
                    both = m.get("long_mm") is not None and m.get("perp_mm") is not None
                    size = float(m["long_mm"]) * float(m["perp_mm"]) if both else None
                else:
                    size = m.get("enhancing_volume_mm3")
                if size is not None:
                    sizes.append(float(size))
            value = sum(sizes) if sizes else None
        if value is not None:
            out.append((dt.date.fromisoformat(date), value * q.scale))
    return out


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
    """A PNG of the heading criterion's size over time (and enhancing volume), or ``None`` without any size.

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
    q = criterion_quantity(data)
    main = criterion_series(data)
    points = size_series(data.get("timepoints", ()))
    vol = [(p.date, p.volume_cm3) for p in points if p.volume_cm3 is not None] if q.method != "volumetric" else []
    if not main and not vol:
        return None
    window = display_settings()["response_window"]
    fig = Figure(figsize=(7.5, 2.5), dpi=dpi)
    ax: Any = fig.subplots()  # Any: matplotlib's stubs do not take dates, which it plots
    all_dates = [p.date for p in points] + [
        dt.date.fromisoformat(str(t["start"])) for t in data.get("treatments", ()) if t.get("start")
    ]
    _treatment_marks(ax, data, str(window["label"]))
    fmt = "{:.1f}" if q.unit == "cm³" else "{:.0f}"
    if main:
        xs, ys = [d for d, _ in main], [v for _, v in main]
        ax.plot(xs, ys, "o-", color="#1b3a5c", lw=2, ms=6, label=f"{q.short} ({q.unit})")
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(fmt.format(y), (x, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8)
        ax.set_ylim(bottom=0, top=max(ys) * 1.3 if max(ys) > 0 else 1.0)
    ax.set_ylabel(f"{q.short} ({q.unit})" if main else "(no criterion size)", fontsize=8)
    ax.set_title(q.label, fontsize=8, loc="left")
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    handles, labels = ax.get_legend_handles_labels()
    if vol:
        ax2: Any = ax.twinx()
        vx, vy = [d for d, _ in vol], [v for _, v in vol]
        (line,) = ax2.plot(vx, vy, "s--", color="#7a4fa0", lw=1.4, ms=4, label="enhancing volume (cm³)")
        ax2.set_ylabel("Enhancing volume (cm³)", fontsize=8, color="#7a4fa0")
        ax2.set_ylim(bottom=0, top=max(vy) * 1.3 if max(vy) > 0 else 1.0)
        ax2.tick_params(labelsize=8, colors="#7a4fa0")
        handles, labels = [*handles, line], [*labels, "enhancing volume (cm³)"]
    lo, hi = min(all_dates), max(all_dates)
    pad = dt.timedelta(days=max(14, (hi - lo).days // 20))
    ax.set_xlim(lo - pad, hi + pad)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    for label in ax.get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="upper center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
