"""cohort.parquet, cohort.csv, cohort-calibrate.csv and cohort.html (self-contained: figures inlined as PNG).

The page holds: the response distribution per criterion (latest scan of each case), a waterfall of the best
% change of SPD from baseline, a swimmer plot of time on study with each criterion-call event, the agreement
between RANO 2010 / mRANO / RANO 2.0 (Cohen's kappa, 95 % case-bootstrap interval) and, where labels exist,
the ROC of each marker and of the fused probability (AUC with a bootstrap interval).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..files import write_atomic
from ..report.deidentify import Deidentifier
from .agreement import BROAD, broad_class, kappa_with_interval, roc_curve
from .table import CRITERIA, calibration_csv, join_labels, load_rows, marker_columns, read_labels, slug

if TYPE_CHECKING:
    from .run import CohortRun

AGREEMENT = ("RANO", "mRANO", "RANO 2.0")
_COLOURS = {"CR": "#1a9850", "PR": "#91cf60", "SD": "#fee08b", "PD": "#d73027", None: "#bdbdbd"}


def chosen_criteria(requested: Sequence[str] | None) -> list[str]:
    if not requested:
        return list(CRITERIA)
    out = []
    for name in requested:
        match = next((c for c in CRITERIA if c.lower() == name.strip().lower() or slug(c) == name.strip()), None)
        if match is None:
            raise ValueError(f"unknown criterion {name!r}; choose from {', '.join(CRITERIA)}")
        out.append(match)
    return out


def write_cohort_outputs(
    run: CohortRun,
    *,
    criteria: Sequence[str] | None = None,
    labels: Path | None = None,
    deidentify: Deidentifier | None = None,
) -> dict[str, Path]:
    """Build the table from the published case folders and write the cohort files; returns name → path.

    With ``deidentify`` (the cohort's), the labels' case ids and dates are mapped the way the cases' were.
    """
    import pandas as pd

    from .run import CASES_FOLDER

    chosen = chosen_criteria(criteria)
    rows = load_rows(run.out_dir / CASES_FOLDER, run.done)
    unmatched = []
    if labels is not None:
        given = read_labels(labels)
        if deidentify is not None:
            given = deidentified_labels(given, deidentify, source=labels)
        unmatched = join_labels(rows, given)
    suffixes = ("call", "pct_vs_baseline", "pct_vs_nadir")
    dropped = {f"{slug(c)}_{s}" for c in CRITERIA if c not in chosen for s in suffixes}
    rows = [{k: v for k, v in r.items() if k not in dropped} for r in rows]
    frame = pd.DataFrame(rows)
    for col in ("outcome", "label"):
        if labels is not None and col not in frame:
            frame[col] = None
    # Error rows have no date: keep whole numbers and flags typed (nullable), not floats.
    for col, dtype in (("timepoint", "Int64"), ("days_on_study", "Int64"), ("label", "Int64"), ("latest", "boolean"),
                       ("in_scope", "boolean"), ("not_assessed", "Int64")):
        if col in frame:
            frame[col] = frame[col].astype(dtype)
    out = run.out_dir
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    paths = {"parquet": out / "cohort.parquet", "csv": out / "cohort.csv", "html": out / "cohort.html"}
    write_atomic(paths["parquet"], buf.getvalue())
    write_atomic(paths["csv"], frame.to_csv(index=False))
    if labels is not None:
        paths["calibrate_csv"] = out / "cohort-calibrate.csv"
        write_atomic(paths["calibrate_csv"], calibration_csv(rows))
    write_atomic(paths["html"], render_html(rows, chosen, run=run, unmatched=unmatched))
    return paths


def deidentified_labels(
    labels: Sequence[dict[str, Any]], deid: Deidentifier, *, source: Path
) -> list[dict[str, Any]]:
    """Labels keyed as de-identified rows are: case (folder name or case id) → pseudonym, date → shifted."""
    out = []
    for lab in labels:
        date = lab["date"]
        if date and deid.dates == "remove":
            raise InputError(
                "a label's date cannot be matched once dates are removed",
                file=source,
                field="date",
                expected="labels without dates (the latest scan), or --deidentify-dates shift",
            )
        out.append({**lab, "case": deid.pseudonym(lab["case"]), "date": deid.text(date) if date else None})
    return out


# ---------------------------------------------------------------------------------------------- figures


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _latest(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status") == "ok" and r.get("latest")]


def fig_distribution(rows: Sequence[dict[str, Any]], criteria: Sequence[str]) -> str:
    import matplotlib.pyplot as plt

    latest = _latest(rows)
    cats = [*BROAD, None]
    counts = np.array(
        [[sum(1 for r in latest if broad_class(r.get(f"{slug(c)}_call")) == k) for k in cats] for c in criteria]
    )
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(criteria)))
    left = np.zeros(len(criteria))
    for j, k in enumerate(cats):
        ax.barh(list(criteria), counts[:, j], left=left, color=_COLOURS[k], label=k or "other / not assessable")
        left += counts[:, j]
    ax.set_xlabel("cases (latest scan)")
    ax.legend(ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return _png(fig)


def best_change(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Best (smallest) % change of SPD from the case's first scan over its follow-up scans."""
    best: dict[str, float] = {}
    for r in rows:
        v = r.get("spd_mm2_pct_vs_baseline")
        if r.get("status") == "ok" and v is not None and np.isfinite(v):
            best[r["case"]] = min(best.get(r["case"], np.inf), float(v))
    return best


def fig_waterfall(rows: Sequence[dict[str, Any]], criterion: str) -> str:
    import matplotlib.pyplot as plt

    best = best_change(rows)
    if not best:
        return "<p>No case has an SPD at a follow-up scan and at baseline: no waterfall.</p>"
    call = {r["case"]: broad_class(r.get(f"{slug(criterion)}_call")) for r in _latest(rows)}
    names = sorted(best, key=lambda n: -best[n])
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(names) + 2), 3.5))
    ax.bar(range(len(names)), [best[n] for n in names], color=[_COLOURS.get(call.get(n)) for n in names])
    for y, style in ((25, "--"), (-50, ":")):  # RANO: +25 % SPD progression, -50 % partial response (Wen 2010)
        ax.axhline(y, color="grey", linestyle=style, linewidth=1)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=k or "other") for k, c in _COLOURS.items()], fontsize=7, ncol=5)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("best % change of SPD from baseline")
    ax.set_title(f"colour: latest {criterion} call", fontsize=9)
    return _png(fig)


def fig_swimmer(rows: Sequence[dict[str, Any]], criterion: str) -> str:
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    cases = list(dict.fromkeys(r["case"] for r in ok))
    if not cases:
        return "<p>No assessed case: no swimmer plot.</p>"
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.35 * len(cases)))
    for y, name in enumerate(cases):
        mine = [r for r in ok if r["case"] == name]
        end = max(r["days_on_study"] for r in mine)
        ax.barh(y, end, color="#d9d9d9", height=0.5)
        for r in mine:
            k = broad_class(r.get(f"{slug(criterion)}_call"))
            ax.plot(r["days_on_study"], y, "o", color=_COLOURS.get(k), markeredgecolor="black", markersize=7)
            if k:
                ax.annotate(k, (r["days_on_study"], y), xytext=(0, 6), textcoords="offset points", fontsize=7)
    ax.set_yticks(range(len(cases)), cases, fontsize=8)
    ax.set_xlabel("days since the first scan")
    ax.set_title(f"scans and {criterion} calls", fontsize=9)
    return _png(fig)


def agreement_table(rows: Sequence[dict[str, Any]], criteria: Sequence[str] = AGREEMENT) -> list[dict[str, Any]]:
    """Pairwise kappa of RANO 2010 / mRANO / RANO 2.0 (those in ``criteria``) where both give CR/PR/SD/PD."""
    out = []
    ok = [r for r in rows if r.get("status") == "ok"]
    names = [c for c in AGREEMENT if c in criteria]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pairs: list[tuple[str | None, str | None, str]] = [
                (broad_class(r.get(f"{slug(a)}_call")), broad_class(r.get(f"{slug(b)}_call")), r["case"]) for r in ok
            ]
            pairs = [(x, y, g) for x, y, g in pairs if x is not None and y is not None]
            entry: dict[str, Any] = {"a": a, "b": b, "n": len(pairs), "kappa": None, "interval": None}
            if pairs:
                code = {k: j for j, k in enumerate(BROAD)}
                xa = np.array([code[str(p[0])] for p in pairs])
                xb = np.array([code[str(p[1])] for p in pairs])
                groups = np.array([p[2] for p in pairs])
                kappa, interval = kappa_with_interval(xa, xb, groups)
                entry.update(kappa=kappa, interval=interval, agree=int((xa == xb).sum()))
            out.append(entry)
    return out


def roc_entries(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    from ..evidence.stats import auc, bootstrap_auc_interval
    from ..markers import MARKERS

    labelled = [r for r in rows if r.get("label") is not None]
    names = ["probability", *marker_columns(list(dict.fromkeys(k for r in labelled for k in r)))]
    out = []
    for name in names:
        pts = [(r.get(name), r["label"]) for r in labelled]
        pts = [(float(v), int(y)) for v, y in pts if v is not None and np.isfinite(v)]
        y = np.array([p[1] for p in pts], dtype=bool)
        if len(pts) < 2 or y.all() or not y.any():
            out.append({"name": name, "n": len(pts), "auc": None, "reason": "needs labelled cases of both outcomes"})
            continue
        s = np.array([p[0] for p in pts])
        if name != "probability" and MARKERS[name].higher_suggests == "treatment_effect":
            s = -s  # oriented so that a higher score means true progression
        fpr, tpr = roc_curve(s, y)
        out.append(
            {"name": name, "n": len(pts), "auc": auc(s, y), "interval": bootstrap_auc_interval(s, y), "fpr": fpr,
             "tpr": tpr}
        )
    return out


def fig_roc(entries: Sequence[dict[str, Any]]) -> str:
    import matplotlib.pyplot as plt

    drawn = [e for e in entries if e.get("auc") is not None]
    if not drawn:
        return ""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for e in drawn:
        ax.step(e["fpr"], e["tpr"], where="post", label=f"{e['name']} (AUC {e['auc']:.2f})")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(fontsize=7)
    return _png(fig)


# ---------------------------------------------------------------------------------------------- page


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def render_html(
    rows: Sequence[dict[str, Any]], criteria: Sequence[str], *, run: CohortRun, unmatched: Sequence[str] = ()
) -> str:
    lead = next((c for c in ("RANO 2.0", *criteria) if c in criteria), criteria[0])
    errors = [r for r in rows if r.get("status") != "ok"]
    n_ok = len({r["case"] for r in rows if r.get("status") == "ok"})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>pseudoprog cohort</title><style>",
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
        "img{max-width:100%}.err{color:#b2182b}",
        "</style></head><body><h1>Cohort</h1>",
        f"<p>{len(run.cases)} cases: {n_ok} assessed, {len(errors)} errors; computed in this run "
        f"{len(run.computed)}, unchanged and reused {len(run.skipped)}. Decision support: every number below comes "
        "from each case's own assessment.json beside this page (cases/&lt;name&gt;/).</p>",
        "<h2>Response distribution per criterion</h2>",
        "<p>Latest scan of each case; provisional calls are folded into their class (PD (preliminary) → PD).</p>",
        fig_distribution(rows, criteria),
        "<h2>Waterfall: best % change of SPD from baseline</h2>",
        "<p>SPD = sum of the products of perpendicular diameters of the measurable enhancing lesions; baseline = "
        "the case's first scan; dashed +25 %, dotted −50 % (RANO thresholds, Wen 2010).</p>",
        fig_waterfall(rows, lead),
        "<h2>Swimmer plot: time on study</h2>",
        fig_swimmer(rows, lead),
        "<h2>Agreement between criteria</h2>",
        "<p>Cohen's kappa over the scans where both criteria give CR, PR, SD or PD; 95 % interval from 1000 "
        "bootstrap resamples of whole cases.</p>",
        "<table><tr><th>criteria</th><th>scans</th><th>agree</th><th>kappa</th><th>95 % interval</th></tr>",
    ]
    for e in agreement_table(rows, criteria):
        interval = e["interval"]
        parts.append(
            f"<tr><td>{e['a']} vs {e['b']}</td><td>{e['n']}</td><td>{e.get('agree', '—')}</td>"
            f"<td>{_fmt(e['kappa'])}</td><td>{'—' if interval is None else f'{interval[0]:.2f}–{interval[1]:.2f}'}"
            "</td></tr>"
        )
    parts.append("</table>")
    if any(r.get("label") is not None for r in rows):
        entries = roc_entries(rows)
        parts += ["<h2>ROC against the labels</h2>", fig_roc(entries), "<table><tr><th>score</th><th>n</th>"
                  "<th>AUC</th><th>95 % bootstrap</th></tr>"]
        for e in entries:
            interval = e.get("interval")
            parts.append(
                f"<tr><td>{e['name']}</td><td>{e['n']}</td><td>{_fmt(e['auc'])}</td><td>"
                + (e.get("reason", "—") if interval is None else f"{interval[0]:.2f}–{interval[1]:.2f}")
                + "</td></tr>"
            )
        parts.append("</table>")
    if unmatched:
        parts.append("<p class='err'>Labels that matched no scan: " + html.escape(", ".join(unmatched)) + "</p>")
    if errors:
        parts.append("<h2>Errors</h2><table><tr><th>case</th><th>reason</th></tr>")
        parts += [f"<tr><td>{_fmt(r['case'])}</td><td class='err'>{_fmt(r['error'])}</td></tr>" for r in errors]
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
