"""Likelihood ratios for each imaging marker, from the sourced accuracy table ``data/likelihoods.yaml``.

Each row is a pooled sensitivity/specificity for true progression with its interval and the range of
published cut-offs. A value below the range gives LR− (every study would call it negative), above it LR+,
inside it a log-linear blend by the share of the range below the value (see the table header). The row is
chosen by marker, tumour type (glioma / metastasis), time window (≤ 12 weeks after RT = early) and, for
PET, the tracer. A site profile from ``pseudoprog calibrate`` replaces the literature rows of the markers
it covers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..case import Marker
from ..markers import MARKERS
from .fusion import Contribution
from .stats import beta_from_interval, draw_lognormal_ratio, load_table, wilson_interval

_TRACER_ALIASES = {"fet": "fet", "18f-fet": "fet", "fluoroethyltyrosine": "fet", "fdg": "fdg", "18f-fdg": "fdg"}
_TRACER_ALIASES |= {"met": "met", "11c-met": "met", "methionine": "met"}
_MARKER_ALIASES = {"pet_fet_tbr_max": ("pet_tbr_max", "fet")}


@dataclass(frozen=True)
class LikelihoodRow:
    """One accuracy row: how a marker's value becomes a likelihood ratio for true progression."""

    id: str
    marker: str
    source: str
    population: str = "any"  # glioma | metastasis | any
    window: str = "any"  # early | late | any
    tracer: str | None = None
    sens: float | None = None
    spec: float | None = None
    sens_ci: tuple[float, float] | None = None
    spec_ci: tuple[float, float] | None = None
    n_tp: int | None = None
    n_te: int | None = None
    tp_pos: int | None = None  # counts (site profiles): true progressions called positive
    te_neg: int | None = None  # treatment effects called negative
    cutoff: tuple[float, float] | None = None
    higher_suggests: str = "tumour"
    lr_cap: float | None = None
    borrowed: bool = False
    threshold_unverified: bool = False
    site: bool = False
    # Continuous class-conditional model (``binormal``): class means and SDs as published.
    binormal: tuple[float, float, float, float] | None = None  # (mean_tp, sd_tp, mean_te, sd_te)
    # A marker that does not separate the classes in this context: a constant LR with an interval (log-normal).
    flat_lr: tuple[float, float, float] | None = None  # (lr, ci_lo, ci_hi)

    def __post_init__(self) -> None:
        if self.higher_suggests not in ("tumour", "treatment_effect"):
            raise ValueError(f"row {self.id}: higher_suggests must be 'tumour' or 'treatment_effect'")
        if self.binormal is not None:
            m1, s1, m0, s0 = self.binormal
            if s1 <= 0 or s0 <= 0:
                raise ValueError(f"row {self.id}: binormal SDs must be positive")
            if (m1 > m0) != (self.higher_suggests == "tumour"):
                raise ValueError(f"row {self.id}: binormal means contradict higher_suggests")
            if not self.n_tp or not self.n_te:
                raise ValueError(f"row {self.id}: a binormal row needs n_tp and n_te for the uncertainty of its means")
        if self.cutoff is not None:
            if self.sens is None or self.spec is None:
                raise ValueError(f"row {self.id}: a row with a cut-off needs sens and spec")
            if not (0 < self.sens <= 1 and 0 <= self.spec <= 1 and self.sens + self.spec > 1):
                raise ValueError(f"row {self.id}: sens {self.sens} / spec {self.spec} must be informative")
            if self.cutoff[0] > self.cutoff[1]:
                raise ValueError(f"row {self.id}: cut-off range {self.cutoff} is reversed")

    @property
    def applicable(self) -> bool:
        return self.cutoff is not None or self.binormal is not None or self.flat_lr is not None

    @property
    def informative(self) -> bool:
        """False for a flat row: it carries no separation, so it does not count as a test in the dependence model."""
        return self.flat_lr is None

    # -- the two model kinds, point and Monte Carlo ---------------------------------------------
    def point_log_lr(self, value: np.ndarray | float, cap: tuple[float, float]) -> np.ndarray:
        """log LR at the published point estimates (vectorised over values)."""
        if self.flat_lr is not None:
            return np.full(np.shape(value), math.log(self.flat_lr[0]))
        if self.binormal is not None:
            m1, s1, m0, s0 = self.binormal
            return self._binormal_log_lr(value, m1, m0, s1, s0, cap)
        return self.log_lr(value, self.sens, self.spec, cap)  # type: ignore[arg-type]

    def draw_log_lr(self, value: float, rng: np.random.Generator, n: int, cap: tuple[float, float]) -> np.ndarray:
        """``n`` Monte Carlo draws of the log LR of one value over the row's uncertainty."""
        if self.flat_lr is not None:
            lr, lo, hi = self.flat_lr
            return np.log(draw_lognormal_ratio(rng, n, point=lr, ci=(lo, hi)))
        if self.binormal is not None:
            m1, s1, m0, s0 = self.binormal
            assert self.n_tp and self.n_te
            mu1 = rng.normal(m1, s1 / math.sqrt(self.n_tp), size=n)  # uncertainty of the published means
            mu0 = rng.normal(m0, s0 / math.sqrt(self.n_te), size=n)
            return self._binormal_log_lr(value, mu1, mu0, s1, s0, cap)
        s, c = self.draw_sens_spec(rng, n)
        return self.log_lr(value, s, c, cap)

    def _binormal_log_lr(
        self,
        value: np.ndarray | float,
        mu1: np.ndarray | float,
        mu0: np.ndarray | float,
        s1: float,
        s0: float,
        cap: tuple[float, float],
    ) -> np.ndarray:
        # Equal-variance binormal (pooled SD): the log LR is linear, so monotone in the value — unequal
        # variances would make it quadratic and non-monotone in the tails, which no reader would accept.
        sd = math.sqrt((s1 * s1 + s0 * s0) / 2.0)
        x = np.asarray(value, dtype=float)
        mu1 = np.asarray(mu1, dtype=float)
        mu0 = np.asarray(mu0, dtype=float)
        log = (mu1 - mu0) / (sd * sd) * (x - (mu1 + mu0) / 2.0)
        hi = math.log(min(cap[1], self.lr_cap) if self.lr_cap else cap[1])
        return np.clip(log, math.log(cap[0]), hi)

    # -- sens/spec draws --------------------------------------------------------------------
    def _draw(
        self,
        rng: np.random.Generator,
        n: int,
        point: float,
        ci: tuple[float, float] | None,
        k: int | None,
        total: int | None,
    ) -> np.ndarray:
        if k is not None and total:
            return rng.beta(k + 0.5, total - k + 0.5, size=n)
        if total:
            kk = round(point * total)
            return rng.beta(kk + 0.5, total - kk + 0.5, size=n)
        if ci is not None:
            p = min(max(point, 1e-3), 1 - 1e-3)
            a, b = beta_from_interval(p, min(ci[0], p), max(ci[1], p))
            return rng.beta(a, b, size=n)
        return np.full(n, point)

    def draw_sens_spec(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.sens is not None and self.spec is not None
        s = self._draw(rng, n, self.sens, self.sens_ci, self.tp_pos, self.n_tp)
        c = self._draw(rng, n, self.spec, self.spec_ci, self.te_neg, self.n_te)
        return s, c

    def interval_text(self) -> str:
        if self.flat_lr is not None:
            return f"no separation in this context: LR {self.flat_lr[0]:g} ({self.flat_lr[1]:g}-{self.flat_lr[2]:g})"

        def one(point: float | None, ci: tuple[float, float] | None, k: int | None, total: int | None) -> str:
            if point is None:
                return "not reported"
            if ci is not None:
                return f"{point:.2f} ({ci[0]:.2f}-{ci[1]:.2f})"
            if total:
                kk = k if k is not None else round(point * total)
                lo, hi = wilson_interval(kk, total)
                return f"{point:.2f} ({lo:.2f}-{hi:.2f}, Wilson n={total})"
            return f"{point:.2f}"

        return (
            f"sens {one(self.sens, self.sens_ci, self.tp_pos, self.n_tp)}, "
            f"spec {one(self.spec, self.spec_ci, self.te_neg, self.n_te)}"
        )

    # -- the LR of a value ----------------------------------------------------------------------
    def positive_weight(self, value: np.ndarray | float) -> np.ndarray:
        """Share of the published cut-off range that would call ``value`` tumour-positive (0..1, vectorised)."""
        assert self.cutoff is not None
        lo, hi = self.cutoff
        x = np.asarray(value, dtype=float)
        if self.higher_suggests == "tumour":
            if hi == lo:
                return (x >= lo).astype(float)
            return np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        if hi == lo:
            return (x < lo).astype(float)
        return np.clip((hi - x) / (hi - lo), 0.0, 1.0)

    def log_lr(
        self,
        value: np.ndarray | float,
        sens: np.ndarray | float,
        spec: np.ndarray | float,
        cap: tuple[float, float],
    ) -> np.ndarray:
        """log LR of ``value`` for given sensitivity/specificity, capped.

        ``value`` and ``sens``/``spec`` broadcast: one value against Monte Carlo draws, or many values
        (a cohort) against point estimates.
        """
        s = np.asarray(sens, dtype=float)
        c = np.asarray(spec, dtype=float)
        w = self.positive_weight(value)
        lrp = s / np.maximum(1.0 - c, 1e-9)
        lrn = np.maximum(1.0 - s, 1e-9) / np.maximum(c, 1e-9)
        log = w * np.log(lrp) + (1.0 - w) * np.log(lrn)
        hi = math.log(min(cap[1], self.lr_cap) if self.lr_cap else cap[1])
        return np.clip(log, math.log(cap[0]), hi)

    def sample_values(self, truth_tp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Values drawn from this row's own class-conditional model (for synthetic cohorts).

        Binormal rows draw from the equal-variance normals the model uses. Cut-off rows: a true progression
        is test-positive with probability ``sens``, a treatment effect with ``1 - spec``; positives get a value
        above the cut-off range, negatives below it (the model is dichotomous outside the range).
        """
        truth_tp = np.asarray(truth_tp, dtype=bool)
        if self.flat_lr is not None:
            return rng.random(truth_tp.shape)  # the LR ignores the value: any value will do
        if self.binormal is not None:
            m1, s1, m0, s0 = self.binormal
            sd = math.sqrt((s1 * s1 + s0 * s0) / 2.0)  # the model's own (equal-variance) distributions
            return rng.normal(np.where(truth_tp, m1, m0), sd)
        assert self.cutoff is not None and self.sens is not None and self.spec is not None
        p_pos = np.where(truth_tp, self.sens, 1.0 - self.spec)
        pos = rng.random(truth_tp.shape) < p_pos
        lo, hi = self.cutoff
        above, below = hi * 1.25 + 1e-6, lo * 0.75
        tumour_value, effect_value = (above, below) if self.higher_suggests == "tumour" else (below, above)
        return np.where(pos, tumour_value, effect_value)


def _row(raw: Mapping[str, Any]) -> LikelihoodRow:
    def pair(key: str) -> tuple[float, float] | None:
        v = raw.get(key)
        return None if v is None else (float(v[0]), float(v[1]))

    return LikelihoodRow(
        id=str(raw["id"]),
        marker=str(raw["marker"]),
        source=str(raw["source"]),
        population=str(raw.get("population", "any")),
        window=str(raw.get("window", "any")),
        tracer=raw.get("tracer"),
        sens=None if raw.get("sens") is None else float(raw["sens"]),
        spec=None if raw.get("spec") is None else float(raw["spec"]),
        sens_ci=pair("sens_ci"),
        spec_ci=pair("spec_ci"),
        n_tp=raw.get("n_tp"),
        n_te=raw.get("n_te"),
        tp_pos=raw.get("tp_pos"),
        te_neg=raw.get("te_neg"),
        cutoff=pair("cutoff"),
        higher_suggests=str(raw.get("higher_suggests", "tumour")),
        lr_cap=None if raw.get("lr_cap") is None else float(raw["lr_cap"]),
        borrowed=bool(raw.get("borrowed", False)),
        threshold_unverified=bool(raw.get("threshold_unverified", False)),
        site=bool(raw.get("site", False)),
        binormal=None
        if raw.get("binormal") is None
        else tuple(float(raw["binormal"][k]) for k in ("mean_tp", "sd_tp", "mean_te", "sd_te")),  # type: ignore[arg-type]
        flat_lr=None
        if raw.get("flat_lr") is None
        else (float(raw["flat_lr"]["lr"]), float(raw["flat_lr"]["ci"][0]), float(raw["flat_lr"]["ci"][1])),
    )


@dataclass(frozen=True)
class LikelihoodTable:
    rows: tuple[LikelihoodRow, ...]
    group_of: Mapping[str, tuple[str, str]]  # marker -> (group, family)
    constants: Mapping[str, Any]

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None = None) -> LikelihoodTable:
        """The literature table (``data/likelihoods.yaml``), or one built from ``raw`` with the same layout."""
        if raw is None:
            return _default_table()
        data = raw
        group_of: dict[str, tuple[str, str]] = {}
        for gname, g in data["groups"].items():
            for m in g["markers"]:
                group_of[m] = (gname, str(g["family"]))
        rows = tuple(_row(r) for r in data["rows"])
        for r in rows:
            if r.marker not in MARKERS:
                raise ValueError(f"likelihoods table row {r.id}: unknown marker {r.marker!r}")
        return cls(rows=rows, group_of=group_of, constants=dict(data["constants"]))

    def with_site_rows(self, site_rows: Iterable[LikelihoodRow]) -> LikelihoodTable:
        """A table where the markers of ``site_rows`` use only those rows (a calibrated site profile)."""
        site = tuple(site_rows)
        covered = {r.marker for r in site}
        kept = tuple(r for r in self.rows if r.marker not in covered)
        return LikelihoodTable(rows=site + kept, group_of=self.group_of, constants=self.constants)

    @property
    def lr_cap(self) -> tuple[float, float]:
        lo, hi = self.constants["lr_cap"]
        return float(lo), float(hi)

    @property
    def discount(self) -> float:
        return float(self.constants["family_discount"])

    def select(self, marker: str, *, population: str, window: str, tracer: str | None) -> list[LikelihoodRow]:
        """Rows for a marker in this context; site rows win; exact population/window before 'any'."""
        rows = [r for r in self.rows if r.marker == marker and (r.tracer is None or r.tracer == tracer)]
        site = [r for r in rows if r.site]
        if site:
            return site
        for pop_ok, win_ok in ((True, True), (True, False), (False, True), (False, False)):
            chosen = [
                r
                for r in rows
                if (r.population == population if pop_ok else r.population == "any")
                and (r.window == window if win_ok else r.window == "any")
            ]
            if chosen:
                return chosen
        return []


@cache
def _default_table() -> LikelihoodTable:
    return LikelihoodTable.load(load_table("likelihoods.yaml"))


@dataclass(frozen=True)
class ReportedOnly:
    """A marker value that is reported with the reason no likelihood ratio was applied."""

    name: str
    value: float
    unit: str
    reason: str
    source: str
    direction: str


@dataclass(frozen=True)
class MarkerEvidence:
    applied: tuple[Contribution, ...]
    reported: tuple[ReportedOnly, ...]
    warnings: tuple[str, ...]


def _tracer_of(marker: Marker) -> tuple[str, str | None]:
    if marker.name in _MARKER_ALIASES:
        name, tracer = _MARKER_ALIASES[marker.name]
        return name, tracer
    raw = marker.quality.get("tracer") if marker.quality else None
    return marker.name, None if raw is None else _TRACER_ALIASES.get(str(raw).strip().lower(), str(raw).lower())


def pick_markers(markers: Sequence[Marker]) -> tuple[list[Marker], list[str]]:
    """One value per marker name: where several lesions report one, the most tumour-suggestive is kept."""
    by_name: dict[str, list[Marker]] = {}
    for m in markers:
        by_name.setdefault(m.name, []).append(m)
    chosen: list[Marker] = []
    warnings: list[str] = []
    for name, ms in by_name.items():
        if len(ms) == 1:
            chosen.append(ms[0])
            continue
        lower_is_tumour = MARKERS[name].higher_suggests == "treatment_effect" if name in MARKERS else False
        best = min(ms, key=lambda m: m.value) if lower_is_tumour else max(ms, key=lambda m: m.value)
        chosen.append(best)
        warnings.append(
            f"{name}: {len(ms)} values at the latest scan (several lesions or sources); the most tumour-suggestive "
            f"({best.value:g} {best.unit}, {best.source}) is used"
        )
    return chosen, warnings


def marker_evidence(
    markers: Sequence[Marker],
    *,
    population: str,
    window: str,
    rng: np.random.Generator,
    n_draws: int,
    table: LikelihoodTable | None = None,
    early_weight: float | None = None,
) -> MarkerEvidence:
    """Likelihood-ratio contributions for the markers of one timepoint.

    Parameters
    ----------
    markers
        The latest timepoint's markers (names from :data:`pseudoprog.markers.MARKERS`).
    population
        ``"glioma"`` or ``"metastasis"``.
    window
        ``"early"`` (≤ 12 weeks after the end of radiotherapy) or ``"late"``.
    rng, n_draws
        Monte Carlo generator and number of draws.
    table
        The accuracy table (default: the literature table).
    early_weight
        Weight (0..1) of the early-window rows against the late-window rows; the log LRs are blended so the
        evidence changes smoothly with time since RT (default: 1 for ``window="early"``, 0 for ``"late"``).
    """
    if population not in ("glioma", "metastasis"):
        raise ValueError(f"population must be 'glioma' or 'metastasis', got {population!r}")
    if window not in ("early", "late"):
        raise ValueError(f"window must be 'early' or 'late', got {window!r}")
    tab = table or LikelihoodTable.load()
    e = (1.0 if window == "early" else 0.0) if early_weight is None else float(early_weight)
    if not 0.0 <= e <= 1.0:
        raise ValueError(f"early_weight must lie in [0, 1], got {early_weight}")
    windows = [(w, x) for w, x in (("early", e), ("late", 1.0 - e)) if x > 0.0]
    chosen, warnings = pick_markers(markers)
    applied: list[Contribution] = []
    reported: list[ReportedOnly] = []
    for m in chosen:
        name, tracer = _tracer_of(m)
        spec = MARKERS.get(name)
        direction = spec.higher_suggests if spec else "neither"
        if name.startswith("pet_") and tracer is None:
            reported.append(
                ReportedOnly(
                    m.name,
                    m.value,
                    m.unit,
                    "PET tracer unknown (FDG and amino-acid tracers have different accuracy): set "
                    "Marker.quality['tracer'] or report FET as pet_fet_tbr_max",
                    "clinical_rules §2.7",
                    direction,
                )
            )
            continue
        cap = tab.lr_cap
        per_window = []
        for win, weight in windows:
            rows = tab.select(name, population=population, window=win, tracer=tracer)
            per_window.append((win, weight, rows, [r for r in rows if r.applicable]))
        if any(not u for _, _, _, u in per_window):
            rows = next(rws for _, _, rws, u in per_window if not u)
            why = rows[0].source if rows else "no accuracy row for this marker in clinical_rules §2"
            reported.append(ReportedOnly(m.name, m.value, m.unit, "no likelihood ratio applied", why, direction))
            continue
        point = 0.0
        draws = np.zeros(n_draws)
        usable: list[LikelihoodRow] = []
        for _, weight, _, rows_w in per_window:
            point += weight * float(np.mean([float(r.point_log_lr(m.value, cap)) for r in rows_w]))
            stack = np.stack([r.draw_log_lr(m.value, rng, n_draws, cap) for r in rows_w])
            pick = rng.integers(0, len(rows_w), size=n_draws)
            draws = draws + weight * stack[pick, np.arange(n_draws)]
            usable.extend(r for r in rows_w if r not in usable)
        group, family = tab.group_of.get(name, (name, name))
        ids = "/".join(r.id for r in usable)
        note_bits = (
            [f"{r.id}: {r.interval_text()}, cut-off {r.cutoff[0]:g}-{r.cutoff[1]:g}" for r in usable if r.cutoff]
            + [f"{r.id}: {r.interval_text()}" for r in usable if r.flat_lr]
            + [
                f"{r.id}: binormal, TP {r.binormal[0]:g} ± {r.binormal[1]:g} "
                f"vs TE {r.binormal[2]:g} ± {r.binormal[3]:g} (pooled SD, n {r.n_tp}/{r.n_te})"
                for r in usable
                if r.binormal
            ]
        )
        if len(per_window) > 1:
            note_bits.append(
                f"{e:.2f} × early-window rows + {1 - e:.2f} × late-window rows (log LRs blended by time since RT)"
            )
        if any(len(u) > 1 for _, _, _, u in per_window):
            note_bits.append("point LR = geometric mean of the alternative pooled rows; draws pick one per draw")
        if any(r.site for r in usable):
            note_bits.append("site-calibrated threshold")
        else:
            warnings.append(
                f"{m.name}: literature cut-offs ({ids}) are not locally validated (clinical_rules §2, §4.4); "
                "calibrate with `pseudoprog calibrate`"
            )
        if any(r.borrowed for r in usable):
            warnings.append(f"{m.name}: accuracy borrowed from glioma studies ({ids}); no pooled metastasis data")
        if any(r.threshold_unverified for r in usable):
            warnings.append(f"{m.name}: the cut-off range of {ids} is unverified (clinical_rules §2.5)")
        if name.startswith(("rcbv", "rcbf")) and population == "glioma" and e > 0.0:
            warnings.append(
                "perfusion within 12 weeks of chemoradiotherapy does not separate pseudoprogression from early "
                f"progression (Rowe 2018, clinical_rules §6 C16): weighed as LR ≈ 1 with weight {e:.2f}"
            )
        applied.append(
            Contribution(
                name=m.name,
                value=m.value,
                unit=m.unit,
                log_lr=point,
                draws=draws,
                source="; ".join(r.source for r in usable),
                group=group,
                family=family,
                kind="marker",
                note="; ".join(note_bits),
                # how much of this contribution is a real test (flat rows are not), for the dependence model
                informative=sum(x for _, x, _, u in per_window if any(r.informative for r in u)),
            )
        )
    return MarkerEvidence(applied=tuple(applied), reported=tuple(reported), warnings=tuple(warnings))
