"""Local calibration: a site's own cut-offs from its labelled cases (``pseudoprog calibrate``).

Published cut-offs are not portable (clinical_rules.md §2, §6 C15). From a CSV of labelled cases
(``label`` = 1 true progression / 0 treatment effect, one column per marker name of
:data:`pseudoprog.markers.MARKERS`), each marker gets the Youden-optimal cut-off in its literature
direction, with its sensitivity/specificity *counts*, so the engine draws them from Jeffreys Betas like any
other row. The whole engine (site rows, correlation rule, site prevalence as prior) is then
cross-validated (stratified k-fold): AUC with a bootstrap interval, expected calibration error, a
reliability diagram (PNG) and an operating point on the posterior. The profile is a YAML file that
``pseudoprog assess --profile`` reads; its rows replace the literature rows of the markers it covers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import InputError
from ..files import write_atomic
from ..markers import MARKERS
from .fusion import combine_log_lr
from .likelihoods import LikelihoodRow, LikelihoodTable
from .stats import auc, bootstrap_auc_interval, calibration_error, expit, logit, wilson_interval

PROFILE_FORMAT = "pseudoprog-site-profile"
PROFILE_VERSION = 1
_LABELS_TP = {"1", "true", "tp", "true_progression", "progression", "recurrence", "tumour", "tumor"}
_LABELS_TE = {"0", "false", "te", "treatment_effect", "pseudoprogression", "radiation_necrosis", "necrosis", "stable"}
_IGNORED = {"id", "case_id", "lesion_id", "notes", "site"}
_MISSING = {"", "na", "nan", "n/a", "none", "null"}
_ALIASES = {"pet_fet_tbr_max"}


@dataclass(frozen=True)
class LabelledSet:
    labels: np.ndarray  # bool, True = true progression
    values: dict[str, np.ndarray]  # marker -> float array with NaN for missing
    source: str


def read_labelled_csv(path: str | Path) -> LabelledSet:
    """Read a labelled CSV; every problem is an :class:`InputError` naming the file, row and column."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path, expected="a CSV of labelled cases")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise InputError("empty file", file=path, expected="a header row with 'label' and marker columns")
        fields = [f.strip() for f in reader.fieldnames]
        if "label" not in fields:
            raise InputError("no 'label' column", file=path, field="label", expected="1 = true progression, 0 = not")
        marker_cols = []
        for f in fields:
            if f == "label" or f in _IGNORED:
                continue
            if f not in MARKERS and f not in _ALIASES:
                raise InputError(
                    f"unknown column {f!r}", file=path, field=f, expected="a marker name from pseudoprog.markers"
                )
            marker_cols.append(f)
        if not marker_cols:
            raise InputError("no marker columns", file=path, expected="at least one marker column, e.g. rcbv_max")
        labels: list[bool] = []
        cols: dict[str, list[float]] = {c: [] for c in marker_cols}
        for i, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            lab = row.get("label", "").lower()
            if lab in _LABELS_TP:
                labels.append(True)
            elif lab in _LABELS_TE:
                labels.append(False)
            else:
                raise InputError(
                    f"row {i}: label {lab!r} not recognised", file=path, field="label", expected="1/0 or tp/te"
                )
            for c in marker_cols:
                text = row.get(c, "")
                if text.lower() in _MISSING:
                    cols[c].append(math.nan)
                    continue
                try:
                    v = float(text)
                except ValueError:
                    raise InputError(f"row {i}: {text!r} is not a number", file=path, field=c) from None
                if not math.isfinite(v):
                    raise InputError(f"row {i}: value is not finite", file=path, field=c)
                cols[c].append(v)
    if len(labels) < 20:
        raise InputError(f"only {len(labels)} labelled cases", file=path, expected="at least 20")
    y = np.array(labels, dtype=bool)
    if y.sum() < 5 or (~y).sum() < 5:
        raise InputError("fewer than 5 cases in one class", file=path, field="label", expected=">= 5 of each class")
    return LabelledSet(labels=y, values={c: np.array(v, dtype=float) for c, v in cols.items()}, source=path.name)


def _registry_name(col: str) -> str:
    return "pet_tbr_max" if col == "pet_fet_tbr_max" else col


def youden_row(
    values: np.ndarray, labels: np.ndarray, *, marker: str, higher_suggests: str, source: str
) -> LikelihoodRow | None:
    """The Youden-optimal cut-off row for one marker (None if the marker does not separate the classes)."""
    ok = np.isfinite(values)
    x, y = values[ok], labels[ok]
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 < 3 or n0 < 3:
        return None
    s = x if higher_suggests == "tumour" else -x
    cuts = np.unique(s)
    pos = s[None, :] >= cuts[:, None]  # (cuts, cases)
    tpr = (pos & y).sum(axis=1) / n1
    tnr = (~pos & ~y).sum(axis=1) / n0
    j = tpr + tnr - 1
    best = int(np.argmax(j))
    if j[best] <= 0:
        return None
    cut = float(cuts[best]) if higher_suggests == "tumour" else float(-cuts[best])
    tp_pos = int((pos[best] & y).sum())
    te_neg = int((~pos[best] & ~y).sum())
    # For "lower suggests tumour" the row's rule is value < cut: nudge the cut just above the chosen value.
    if higher_suggests == "treatment_effect":
        cut = float(np.nextafter(cut, np.inf))
    return _site_row(
        marker,
        cut=cut,
        tp_pos=tp_pos,
        n_tp=n1,
        te_neg=te_neg,
        n_te=n0,
        higher_suggests=higher_suggests,
        source=f"site profile {source}: Youden cut-off, {tp_pos}/{n1} TP positive, {te_neg}/{n0} TE negative",
    )


def _site_row(
    marker: str, *, cut: float, tp_pos: int, n_tp: int, te_neg: int, n_te: int, higher_suggests: str, source: str
) -> LikelihoodRow:
    """A likelihood row from a site's own counts at one cut-off (learnt by `calibrate` or read from a profile)."""
    return LikelihoodRow(
        id=f"site:{marker}",
        marker=_registry_name(marker),
        source=source,
        sens=tp_pos / n_tp,
        spec=te_neg / n_te,
        n_tp=n_tp,
        n_te=n_te,
        tp_pos=tp_pos,
        te_neg=te_neg,
        cutoff=(cut, cut),
        higher_suggests=higher_suggests,
        tracer="fet" if marker == "pet_fet_tbr_max" else None,
        site=True,
    )


def fit_rows(data: LabelledSet, idx: np.ndarray) -> tuple[list[LikelihoodRow], dict[str, str]]:
    """Site rows from the cases ``idx``; the second value says why a marker got no row."""
    rows: list[LikelihoodRow] = []
    skipped: dict[str, str] = {}
    for col, vals in data.values.items():
        direction = MARKERS[_registry_name(col)].higher_suggests
        if direction == "neither":
            skipped[col] = "the literature gives no direction for this marker"
            continue
        row = youden_row(vals[idx], data.labels[idx], marker=col, higher_suggests=direction, source=data.source)
        if row is None:
            skipped[col] = "does not separate the classes at this site (Youden J <= 0 or too few values)"
            continue
        rows.append(row)
    return rows, skipped


def posterior_points(
    rows: Sequence[LikelihoodRow],
    table: LikelihoodTable,
    values: Mapping[str, np.ndarray],
    idx: np.ndarray,
    prior: float,
) -> np.ndarray:
    """The engine's point posterior for cases ``idx`` using the site rows and the correlation rule.

    Vectorised over cases (one column each); a missing value contributes log LR 0, i.e. no evidence.
    """
    by_marker = {r.marker if r.tracer is None else "pet_fet_tbr_max": r for r in rows}
    cap = table.lr_cap
    logs, groups, families = [], [], []
    for col, vals in values.items():
        row = by_marker.get(col)
        if row is None:
            continue
        x = vals[idx]
        finite = np.isfinite(x)
        lr = row.log_lr(np.where(finite, x, 0.0), row.sens, row.spec, cap)  # type: ignore[arg-type]
        logs.append(np.where(finite, lr, 0.0))
        group, family = table.group_of.get(row.marker, (row.marker, row.marker))
        groups.append(group)
        families.append(family)
    matrix = np.stack(logs) if logs else np.zeros((0, len(idx)))
    total, _, _ = combine_log_lr(matrix, groups, families, discount=table.discount, naive=False)
    return expit(logit(prior) + total)


def _folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    fold_of = np.empty(len(labels), dtype=int)
    for cls in (True, False):
        members = np.flatnonzero(labels == cls)
        rng.shuffle(members)
        fold_of[members] = np.arange(len(members)) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def _reliability_png(probs: np.ndarray, labels: np.ndarray, *, title: str, n_bins: int = 10) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = np.clip((probs * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    mean_p = np.bincount(bins, weights=probs, minlength=n_bins) / np.maximum(count, 1)
    rate = np.bincount(bins, weights=labels.astype(float), minlength=n_bins) / np.maximum(count, 1)
    used = count > 0
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(mean_p[used], rate[used], marker="o", color="C0", label="cross-validated posterior")
    for xp, yp, n in zip(mean_p[used], rate[used], count[used], strict=True):
        ax.annotate(str(int(n)), (xp, yp), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("predicted probability of true progression")
    ax.set_ylabel("observed proportion of true progression")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class CalibrationReport:
    profile_path: Path
    diagram_path: Path
    n_cases: int
    cv_auc: float
    cv_auc_interval: tuple[float, float]
    calibration_error: float
    operating_point: Mapping[str, Any]
    markers: Mapping[str, Mapping[str, Any]]
    skipped: Mapping[str, str]


def calibrate(
    labelled_csv: str | Path,
    out: str | Path,
    *,
    folds: int = 5,
    n_boot: int = 400,
    seed: int = 0,
) -> CalibrationReport:
    """Learn a site profile from labelled cases and write it (YAML) with its reliability diagram (PNG).

    Parameters
    ----------
    labelled_csv
        CSV with a ``label`` column (1/tp = true progression, 0/te = treatment effect) and marker columns.
    out
        Path of the profile to write; the diagram goes beside it as ``<stem>.reliability.png``.
    folds
        Cross-validation folds (2-20).
    n_boot
        Bootstrap resamples for the AUC interval (>= 100).
    seed
        Seed of the fold split and the bootstrap.
    """
    if not 2 <= folds <= 20:
        raise ValueError(f"folds must lie in 2..20, got {folds}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    data = read_labelled_csv(labelled_csv)
    y = data.labels
    n = len(y)
    if min(int(y.sum()), int((~y).sum())) < folds:
        raise InputError(f"fewer cases in a class than folds ({folds})", file=labelled_csv, field="label")
    table = LikelihoodTable.load()
    rng = np.random.default_rng(seed)
    cv_probs = np.empty(n)
    for test in _folds(y, folds, rng):
        train = np.setdiff1d(np.arange(n), test)
        rows, _ = fit_rows(data, train)
        prior = float((y[train].sum() + 0.5) / (len(train) + 1))
        cv_probs[test] = posterior_points(rows, table, data.values, test, prior)
    cv_auc = auc(cv_probs, y)
    cv_ci = bootstrap_auc_interval(cv_probs, y, n_boot=n_boot, seed=seed)
    ece = calibration_error(cv_probs, y)
    # Operating point on the cross-validated posterior: Youden-optimal probability threshold.
    cuts = np.unique(cv_probs)
    pos = cv_probs[None, :] >= cuts[:, None]
    tpr = (pos & y).sum(axis=1) / y.sum()
    tnr = (~pos & ~y).sum(axis=1) / (~y).sum()
    best = int(np.argmax(tpr + tnr - 1))
    k1, k0 = int((pos[best] & y).sum()), int((~pos[best] & ~y).sum())
    op = {
        "probability_threshold": round(float(cuts[best]), 4),
        "sensitivity": round(k1 / int(y.sum()), 4),
        "sensitivity_ci": [round(v, 4) for v in wilson_interval(k1, int(y.sum()))],
        "specificity": round(k0 / int((~y).sum()), 4),
        "specificity_ci": [round(v, 4) for v in wilson_interval(k0, int((~y).sum()))],
        "rule": "Youden-optimal threshold on the cross-validated posterior",
    }
    rows, skipped = fit_rows(data, np.arange(n))
    marker_info: dict[str, dict[str, Any]] = {}
    for r in rows:
        col = "pet_fet_tbr_max" if r.tracer == "fet" else r.marker
        vals = data.values[col]
        ok = np.isfinite(vals)
        score = vals[ok] if r.higher_suggests == "tumour" else -vals[ok]
        m_auc = auc(score, y[ok])
        lo, hi = bootstrap_auc_interval(score, y[ok], n_boot=n_boot, seed=seed)
        marker_info[col] = {
            "cutoff": r.cutoff[0] if r.cutoff else None,
            "higher_suggests": r.higher_suggests,
            "n_tp": r.n_tp,
            "n_te": r.n_te,
            "tp_pos": r.tp_pos,
            "te_neg": r.te_neg,
            "sensitivity": round(float(r.sens or 0.0), 4),
            "specificity": round(float(r.spec or 0.0), 4),
            "auc": round(m_auc, 4),
            "auc_ci": [round(lo, 4), round(hi, 4)],
        }
    out = Path(out)
    diagram = out.with_name(out.stem + ".reliability.png")
    doc = {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "labelled_file": data.source,
        "n_cases": n,
        "n_true_progression": int(y.sum()),
        "n_treatment_effect": int((~y).sum()),
        "site_prevalence": round(float(y.mean()), 4),
        "note": "site prevalence is reported, not used as the prior: the prior comes from each case (§3)",
        "markers": marker_info,
        "skipped": skipped,
        "cross_validation": {
            "folds": folds,
            "auc": round(cv_auc, 4),
            "auc_ci": [round(cv_ci[0], 4), round(cv_ci[1], 4)],
            "auc_ci_method": f"percentile bootstrap, {n_boot} resamples",
            "calibration_error": round(ece, 4),
            "operating_point": op,
        },
        "reliability_diagram": diagram.name,
    }
    png = _reliability_png(cv_probs, y, title=f"{data.source}: {folds}-fold CV, AUC {cv_auc:.2f}, ECE {ece:.3f}")
    write_atomic(diagram, png)
    write_atomic(out, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return CalibrationReport(
        profile_path=out,
        diagram_path=diagram,
        n_cases=n,
        cv_auc=cv_auc,
        cv_auc_interval=cv_ci,
        calibration_error=ece,
        operating_point=op,
        markers=marker_info,
        skipped=skipped,
    )


def read_profile(path: str | Path) -> list[LikelihoodRow]:
    """The site rows of a profile written by :func:`calibrate`; a malformed profile is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("site profile not found", file=path, expected="a YAML file written by `pseudoprog calibrate`")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc.__class__.__name__})", file=path) from None
    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise InputError("not a site profile", file=path, field="format", expected=PROFILE_FORMAT)
    if doc.get("version") != PROFILE_VERSION:
        raise InputError(f"unsupported version {doc.get('version')!r}", file=path, field="version", expected="1")
    markers = doc.get("markers")
    if not isinstance(markers, dict):
        raise InputError("missing markers", file=path, field="markers", expected="a mapping of marker rows")
    rows = []
    for col, m in markers.items():
        field = f"markers.{col}"
        if col not in MARKERS and col not in _ALIASES:
            raise InputError(f"unknown marker {col!r}", file=path, field=field)
        try:
            n1, n0, k1, k0 = (int(m[k]) for k in ("n_tp", "n_te", "tp_pos", "te_neg"))
            cut = float(m["cutoff"])
            direction = str(m["higher_suggests"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "incomplete row", file=path, field=field, expected="cutoff, higher_suggests, n_tp, n_te, tp_pos, te_neg"
            ) from None
        if not (0 <= k1 <= n1 and 0 <= k0 <= n0 and n1 > 0 and n0 > 0):
            raise InputError("counts out of range", file=path, field=field, expected="0 <= tp_pos <= n_tp etc.")
        try:
            rows.append(
                _site_row(
                    col,
                    cut=cut,
                    tp_pos=k1,
                    n_tp=n1,
                    te_neg=k0,
                    n_te=n0,
                    higher_suggests=direction,
                    source=f"site profile {path.name}: cut-off {cut:g}, {k1}/{n1} TP positive, {k0}/{n0} TE negative",
                )
            )
        except ValueError as exc:
            raise InputError(str(exc), file=path, field=field) from None
    return rows
