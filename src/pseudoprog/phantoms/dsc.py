"""A physically modelled DSC-MRI phantom: a digital reference object with known CBV, CBF, MTT and leakage.

Model (everything per tissue, vectorised over any number of tissues or voxels):

* **Arterial input** — the population AIF of Parker et al., MRM 2006;56:993-1000 (whole-blood
  concentration in mM: two Gaussians plus an exponential washout under a sigmoid), shifted to the
  bolus arrival time.
* **Intravascular passage** — ``C_iv(t) = CBF · (C_a ⊗ R)(t − delay)`` with a gamma distribution of
  transit times (shape 3, as in the OSIPI DSC DRO of Chakwizira et al.) and ``MTT = CBV / CBF``
  (central volume theorem), so ``∫C_iv = CBV · ∫C_a`` exactly.
* **Extravasation** — a Tofts compartment, ``C_e(t) = Ktrans · (C_p ⊗ e^(−kep·t))`` with
  ``C_p = C_a / (1 − Hct)`` and ``kep = Ktrans / ve`` (Tofts et al., JMRI 1999;10:223-32).
* **Relaxation** — ``ΔR2* = r2*_iv · C_iv + r2*_e · C_e`` (the extravascular agent has its own,
  structure-dependent T2* relaxivity: Quarles et al., MRM 2009;62:1088-95); ``R1 = R1,0 + r1 · C_e``
  (intravascular T1 shortening is neglected: slow water exchange across the intact endothelium).
* **Signal** — spoiled gradient-echo EPI,
  ``S = M0 · sinα (1 − E1) / (1 − cosα · E1) · exp(−TE · ΔR2*)`` with ``E1 = exp(−TR · R1)``, then
  partial volume (signals mix within a voxel) and Rician noise.

Leakage is T1-dominant when ``r1 · C_e`` through the T1 factor outweighs ``TE · r2*_e · C_e``
(short TR, high flip angle, little T2* effect of the extravasated agent) and T2*-dominant otherwise.
The truth written into ``tp.extras["dsc"]`` gives every tissue's CBV, CBF, MTT, Ktrans, ve and the
expected rCBV against white matter. Absolute CBV/CBF measured with an arterial ΔR2* AIF are scaled
by ``r2*_iv / r2*_blood`` (tissue and blood relaxivities differ, as in vivo); rCBV, rCBF and MTT are
not, and are what the reference tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, special

from ..case import SeriesKind
from .anatomy import Tissue
from .writers import SyntheticSeries

# Parker et al., MRM 2006;56:993-1000, Table 1 (time in minutes, concentration in mM).
PARKER = {
    "A1": 0.809, "sigma1": 0.0563, "T1": 0.17046,
    "A2": 0.330, "sigma2": 0.132, "T2": 0.365,
    "alpha": 1.050, "beta": 0.1685, "s": 38.078, "tau": 0.483,
}  # fmt: skip


def parker_aif(times_s: np.ndarray, *, delay_s: float = 0.0) -> np.ndarray:
    """Parker population AIF (whole blood, mM) at ``times_s``, starting ``delay_s`` late (0 before)."""
    t = (np.asarray(times_s, dtype=np.float64) - delay_s) / 60.0
    p = PARKER
    g1 = p["A1"] / (p["sigma1"] * np.sqrt(2 * np.pi)) * np.exp(-((t - p["T1"]) ** 2) / (2 * p["sigma1"] ** 2))
    g2 = p["A2"] / (p["sigma2"] * np.sqrt(2 * np.pi)) * np.exp(-((t - p["T2"]) ** 2) / (2 * p["sigma2"] ** 2))
    wash = p["alpha"] * np.exp(-p["beta"] * t) / (1 + np.exp(-p["s"] * (t - p["tau"])))
    out = g1 + g2 + wash
    return np.where(t >= 0, out, 0.0)


@dataclass(frozen=True)
class DSCProtocol:
    """Acquisition of the phantom series (3 T gradient-echo EPI)."""

    te_ms: float = 30.0
    tr_ms: float = 1500.0
    flip_deg: float = 60.0
    n_frames: int = 62
    bolus_arrival_s: float = 19.5
    hct: float = 0.45
    r1_per_mM_s: float = 3.9  # gadobutrol-like T1 relaxivity at 3 T
    r2s_blood_per_mM_s: float = 10.0  # arterial blood ΔR2* per mM (linearised)
    r2s_tissue_per_mM_s: float = 87.0  # microvascular ΔR2* per mM of tissue concentration (GM peak drop ~ 35 %)
    noise_fraction: float = 1 / 80  # Rician SD as a fraction of white-matter S0 (SNR 80)
    preload: bool = False

    @property
    def times_s(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.tr_ms / 1000.0


def _gamma_residue(t: np.ndarray, mtt: np.ndarray, shape: float = 3.0) -> np.ndarray:
    """Residue R(t) = 1 − Γ-CDF of transit times (shape ``shape``, mean ``mtt``), for each row of ``mtt``."""
    scale = np.asarray(mtt, dtype=np.float64)[:, None] / shape
    return special.gammaincc(shape, np.clip(t[None, :], 0, None) / np.maximum(scale, 1e-9))


def concentrations(
    times_s: np.ndarray,
    *,
    cbv: np.ndarray,
    cbf_per_s: np.ndarray,
    ktrans_per_min: np.ndarray | float,
    ve: np.ndarray | float,
    delay_s: np.ndarray | float,
    arrival_s: float,
    hct: float,
    dt_fine_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intravascular and extravascular tissue concentrations (mM, per tissue volume) and the AIF.

    ``cbv`` (ml/ml), ``cbf_per_s`` (ml/ml/s), ``ktrans_per_min``, ``ve`` and ``delay_s`` are arrays of
    the same length (one row per tissue or voxel). Returns ``(c_iv, c_e, c_a)`` sampled at ``times_s``.
    """
    cbv = np.atleast_1d(np.asarray(cbv, dtype=np.float64))
    n = cbv.size
    cbf = np.broadcast_to(np.asarray(cbf_per_s, dtype=np.float64), (n,))
    kt = np.broadcast_to(np.asarray(ktrans_per_min, dtype=np.float64), (n,)) / 60.0
    ve_ = np.broadcast_to(np.asarray(ve, dtype=np.float64), (n,))
    delay = np.broadcast_to(np.asarray(delay_s, dtype=np.float64), (n,))
    t_end = float(np.max(times_s)) + 1.0
    tf = np.arange(0.0, t_end + dt_fine_s, dt_fine_s)
    ca = parker_aif(tf, delay_s=arrival_s)
    mtt = np.where(cbf > 0, cbv / np.maximum(cbf, 1e-12), 1.0)
    size = 2 * tf.size
    ca_f = np.fft.rfft(ca, size)
    residue = _gamma_residue(tf, mtt)
    c_iv = np.fft.irfft(np.fft.rfft(residue, size, axis=1) * ca_f, size, axis=1)[:, : tf.size] * dt_fine_s
    c_iv *= cbf[:, None]
    kep = np.where(ve_ > 0, kt / np.maximum(ve_, 1e-9), 0.0)
    washout = np.exp(-kep[:, None] * tf[None, :])
    c_e = np.fft.irfft(np.fft.rfft(washout, size, axis=1) * ca_f, size, axis=1)[:, : tf.size] * dt_fine_s
    c_e *= (kt / (1 - hct))[:, None]
    # Delay: shift each row, then sample at the frame times.
    ts = np.asarray(times_s, dtype=np.float64)
    shifted = ts[None, :] - delay[:, None]
    idx = np.clip(shifted / dt_fine_s, 0, tf.size - 1)
    lo = np.floor(idx).astype(int)
    hi = np.minimum(lo + 1, tf.size - 1)
    w = idx - lo
    rows = np.arange(n)[:, None]

    def sample(c: np.ndarray) -> np.ndarray:
        return np.where(shifted >= 0, c[rows, lo] * (1 - w) + c[rows, hi] * w, 0.0)

    return sample(c_iv), sample(c_e), parker_aif(ts, delay_s=arrival_s)


def spgr_factor(r1: np.ndarray, *, tr_s: float, flip_deg: float) -> np.ndarray:
    """Steady-state spoiled gradient-echo T1 factor ``sinα (1 − E1) / (1 − cosα · E1)``."""
    a = np.deg2rad(flip_deg)
    e1 = np.exp(-tr_s * r1)
    return np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1)


def tissue_signal(
    protocol: DSCProtocol,
    *,
    s0: np.ndarray,
    t10_s: np.ndarray,
    cbv: np.ndarray,
    cbf_per_s: np.ndarray,
    ktrans_per_min: np.ndarray,
    ve: np.ndarray,
    r2s_e_per_mM_s: np.ndarray,
    delay_s: np.ndarray | float = 0.0,
    te_ms: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free DSC signal ``(n, T)`` of ``n`` tissues, and the arterial blood signal ``(T,)`` for S0 = 1."""
    times = protocol.times_s
    n = np.atleast_1d(cbv).size
    c_iv, c_e, c_a = concentrations(
        times,
        cbv=cbv,
        cbf_per_s=cbf_per_s,
        ktrans_per_min=ktrans_per_min,
        ve=ve,
        delay_s=np.broadcast_to(np.asarray(delay_s, dtype=np.float64), (n,)),
        arrival_s=protocol.bolus_arrival_s,
        hct=protocol.hct,
    )
    te_s = (protocol.te_ms if te_ms is None else te_ms) / 1000.0
    r10 = 1.0 / np.broadcast_to(np.asarray(t10_s, dtype=np.float64), (n,))[:, None]
    r2e = np.broadcast_to(np.asarray(r2s_e_per_mM_s, dtype=np.float64), (n,))[:, None]
    tr_s = protocol.tr_ms / 1000.0
    t1_term = spgr_factor(r10 + protocol.r1_per_mM_s * c_e, tr_s=tr_s, flip_deg=protocol.flip_deg) / spgr_factor(
        r10, tr_s=tr_s, flip_deg=protocol.flip_deg
    )
    dr2s = protocol.r2s_tissue_per_mM_s * c_iv + r2e * c_e
    s0_ = np.broadcast_to(np.asarray(s0, dtype=np.float64), (n,))[:, None]
    signal = s0_ * t1_term * np.exp(-te_s * dr2s)
    artery = np.exp(-te_s * protocol.r2s_blood_per_mM_s * c_a)
    return signal, artery


# Tissue properties at 3 T. CBV ml/100 ml, CBF ml/100 ml/min (grey/white matter: Leenders et al., Brain
# 1990;113:27-47), Ktrans /min and ve (glioma and treatment-effect ranges of DCE studies, e.g. Larsson et al.,
# MRM 2009), r2*_e /s/mM (Quarles et al. 2009 order of magnitude), T10 s (3 T), S0 relative (T2*-weighted EPI).
TISSUES: dict[Tissue, dict[str, float]] = {
    Tissue.GREY_MATTER: dict(cbv=4.5, cbf=60.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=1.35, s0=1.15),
    Tissue.WHITE_MATTER: dict(cbv=2.2, cbf=24.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=0.85, s0=1.0),
    Tissue.CSF: dict(cbv=0.0, cbf=0.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=4.0, s0=1.9),
    Tissue.OEDEMA: dict(cbv=1.8, cbf=18.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=1.6, s0=1.5),
    Tissue.TUMOUR_ENHANCING: dict(cbv=7.7, cbf=80.0, ktrans=0.06, ve=0.3, r2e=3.0, t10=1.6, s0=1.3),
    Tissue.TREATMENT_EFFECT_ENHANCING: dict(cbv=1.8, cbf=16.0, ktrans=0.04, ve=0.4, r2e=3.0, t10=1.5, s0=1.35),
    Tissue.NECROSIS: dict(cbv=0.0, cbf=0.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=2.5, s0=1.6),
    Tissue.CAVITY: dict(cbv=0.0, cbf=0.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=4.0, s0=1.9),
    Tissue.SCALP: dict(cbv=3.0, cbf=20.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=0.4, s0=0.6),
    Tissue.SKULL: dict(cbv=0.0, cbf=0.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=1.0, s0=0.05),
    Tissue.BACKGROUND: dict(cbv=0.0, cbf=0.0, ktrans=0.0, ve=0.0, r2e=0.0, t10=1.0, s0=0.0),
}
ARTERY_S0 = 1.1
LESION_HETEROGENEITY_SD = 0.3  # log-normal spatial CBV/CBF variation inside enhancing lesions (MTT kept)
DOWNSAMPLE = (2, 2, 1)  # DSC grid: 3 × 3 mm in plane, 3 mm slices from the phantom's 1.5 × 1.5 × 3 mm grid
# Slab covered by the DSC series (head coordinates, mm): the middle cerebral arteries (z ≈ −18), the lesions and
# most of the cerebrum, as a 75 mm slab of 25 slices — half the slices (and DICOM files) of whole-head coverage.
SLAB_Z_MM = (-34.5, 40.5)


def _slab(tp: Any, n_slices: int, slab_z_mm: tuple[float, float] | None = SLAB_Z_MM) -> tuple[int, int]:
    """Slice range [k0, k1) of the label grid inside ``slab_z_mm`` (whole grid if ``None`` or the grid is unknown)."""
    grid = getattr(getattr(tp, "anatomy", None), "grid", None)
    if grid is None or slab_z_mm is None:
        return 0, n_slices
    z = grid.world()[2].ravel()
    inside = np.flatnonzero((z >= slab_z_mm[0]) & (z <= slab_z_mm[1]))
    if inside.size == 0:
        return 0, n_slices
    return int(inside[0]), int(inside[-1]) + 1


def to_dsc_grid(tp: Any, volume: np.ndarray, *, downsample: tuple[int, int, int] = DOWNSAMPLE) -> np.ndarray:
    """A label-grid array (a mask or a tissue indicator) as the fraction of each DSC voxel it fills."""
    k0, k1 = _slab(tp, volume.shape[2])
    return _block_mean(np.asarray(volume, dtype=np.float32)[:, :, k0:k1], downsample)


def _block_mean(a: np.ndarray, factor: tuple[int, int, int]) -> np.ndarray:
    sx, sy, sz = (s // f for s, f in zip(a.shape, factor, strict=True))
    a = a[: sx * factor[0], : sy * factor[1], : sz * factor[2]]
    return a.reshape(sx, factor[0], sy, factor[1], sz, factor[2]).mean(axis=(1, 3, 5))


def _coarse_affine(affine: np.ndarray, factor: tuple[int, int, int]) -> np.ndarray:
    scale = np.diag([*factor, 1.0]).astype(np.float64)
    scale[:3, 3] = [(f - 1) / 2 for f in factor]
    return affine @ scale


def dsc_series(
    tp: Any,
    *,
    protocol: DSCProtocol | None = None,
    downsample: tuple[int, int, int] = DOWNSAMPLE,
    slab_z_mm: tuple[float, float] | None = SLAB_Z_MM,
) -> list[SyntheticSeries]:
    """The DSC series of one phantom scan (a :data:`~pseudoprog.phantoms.patient.GENERATORS` entry).

    ``downsample`` is the block size (in label-grid voxels) of one DSC voxel; ``slab_z_mm`` the head-coordinate
    z range covered (``None``: the whole grid).
    """
    prot = protocol or DSCProtocol()
    if len(downsample) != 3 or any(int(f) < 1 for f in downsample):
        raise ValueError(f"downsample must be three positive integers, got {downsample}")
    full_labels = np.asarray(tp.labels)
    k0, k1 = _slab(tp, full_labels.shape[2], slab_z_mm)
    labels = full_labels[:, :, k0:k1]
    rng = tp.rng("dsc")
    tissues = [*TISSUES, Tissue.ARTERY]
    # Lesion heterogeneity on the fine grid: a smooth log-normal factor on CBV and CBF (MTT unchanged).
    field_ = ndimage.gaussian_filter(rng.standard_normal(labels.shape), sigma=(3.0, 3.0, 1.5))
    field_ = field_ / (field_.std() + 1e-12)
    hetero = np.exp(LESION_HETEROGENEITY_SD * field_ - LESION_HETEROGENEITY_SD**2 / 2)
    # Fractions of each tissue (and of each heterogeneity-weighted lesion tissue) per DSC voxel.
    fractions = np.stack(
        [_block_mean((labels == int(t)).astype(np.float32), downsample) for t in tissues], axis=-1
    )  # (x, y, z, n_tissue)
    lesion_tissues = (Tissue.TUMOUR_ENHANCING, Tissue.TREATMENT_EFFECT_ENHANCING)
    factor = np.ones((*fractions.shape[:3], len(tissues)), dtype=np.float32)
    for t in lesion_tissues:
        j = tissues.index(t)
        mass = fractions[..., j]
        weighted = _block_mean((labels == int(t)) * hetero, downsample)
        factor[..., j] = np.where(mass > 0, weighted / np.maximum(mass, 1e-9), 1.0)
    # Curves: one per tissue; lesion tissues at a few factor levels, interpolated (ΔR2*_iv is linear in CBV).
    props = [TISSUES[t] for t in tissues[:-1]]
    signal, artery = tissue_signal(
        prot,
        s0=np.array([p["s0"] for p in props]),
        t10_s=np.array([p["t10"] for p in props]),
        cbv=np.array([p["cbv"] for p in props]) / 100,
        cbf_per_s=np.array([p["cbf"] for p in props]) / 6000,
        ktrans_per_min=np.array([p["ktrans"] for p in props]),
        ve=np.array([p["ve"] for p in props]),
        r2s_e_per_mM_s=np.array([p["r2e"] for p in props]),
    )
    # Split the tissue signal into its intravascular ΔR2* part so lesion voxels can scale it by their factor.
    te_s = prot.te_ms / 1000.0
    iv, _, _ = concentrations(
        prot.times_s,
        cbv=np.array([p["cbv"] for p in props]) / 100,
        cbf_per_s=np.array([p["cbf"] for p in props]) / 6000,
        ktrans_per_min=0.0,
        ve=0.0,
        delay_s=0.0,
        arrival_s=prot.bolus_arrival_s,
        hct=prot.hct,
    )
    iv_decay = np.exp(-te_s * prot.r2s_tissue_per_mM_s * iv)  # (n_tissue-1, T)
    rest = signal / np.where(iv_decay > 0, iv_decay, 1.0)  # S0 · T1 factor · extravascular decay
    curves = np.vstack([signal, ARTERY_S0 * artery[None, :]]).astype(np.float32)  # (n_tissue, T)
    data = np.tensordot(fractions, curves, axes=([3], [0]))  # (x, y, z, T)
    log_iv = np.log(np.maximum(iv_decay, 1e-30))
    for t in lesion_tissues:
        j = tissues.index(t)
        f = fractions[..., j]
        sel = f > 0
        if not sel.any():
            continue
        # Replace the lesion tissue's share by its heterogeneous version: exp(factor · log iv_decay).
        het = rest[j][None, :] * np.exp(factor[..., j][sel][:, None] * log_iv[j][None, :])
        data[sel] += f[sel][:, None] * (het - curves[j][None, :])
    sd = prot.noise_fraction * TISSUES[Tissue.WHITE_MATTER]["s0"] * 1000.0
    data = data * 1000.0
    noisy = np.sqrt((data + rng.normal(0.0, sd, data.shape)) ** 2 + rng.normal(0.0, sd, data.shape) ** 2)
    shift = np.eye(4)
    shift[2, 3] = k0
    affine = _coarse_affine(np.asarray(tp.affine) @ shift, downsample)
    wm_cbv = TISSUES[Tissue.WHITE_MATTER]["cbv"]
    truth: dict[str, Any] = {
        "protocol": {
            "te_ms": prot.te_ms,
            "tr_ms": prot.tr_ms,
            "flip_deg": prot.flip_deg,
            "n_frames": prot.n_frames,
            "bolus_arrival_s": prot.bolus_arrival_s,
            "preload": prot.preload,
            "grid_downsample": list(downsample),
            "slab_slices_of_label_grid": [k0, k1],
        },
        "absolute_scale_r2s_tissue_over_blood": prot.r2s_tissue_per_mM_s / prot.r2s_blood_per_mM_s,
        "lesion_heterogeneity_sd": LESION_HETEROGENEITY_SD,
        "tissues": {
            Tissue(t).name.lower(): {
                **{k: v for k, v in TISSUES[t].items()},
                "mtt_s": (60 * TISSUES[t]["cbv"] / TISSUES[t]["cbf"]) if TISSUES[t]["cbf"] > 0 else None,
                "rcbv_vs_white_matter": TISSUES[t]["cbv"] / wm_cbv,
            }
            for t in TISSUES
        },
    }
    # Truth fractional tumour burden of each enhancing lesion (nominal rCBV × heterogeneity on the fine grid).
    ftb = {}
    for les_id, full_mask in getattr(tp.anatomy, "lesion_masks", {}).items():
        mask = full_mask[:, :, k0:k1]
        if not mask.any():
            continue
        tissue = Tissue(int(np.bincount(labels[mask]).argmax()))
        nominal = TISSUES.get(tissue, {}).get("cbv", 0.0) / wm_cbv
        r = nominal * hetero[mask]
        ftb[les_id] = {"ftb_high": float((r > 1.75).mean()), "ftb_low": float((r < 1.0).mean())}
    truth["lesion_ftb"] = ftb
    tp.extras["dsc"] = truth
    extra = {"ContrastPreloadGiven": prot.preload, "TemporalResolution": prot.tr_ms / 1000.0}
    return [
        SyntheticSeries(
            name="DSC",
            kind=SeriesKind.DSC,
            data=noisy.astype(np.float32),
            affine=affine,
            frame_times_s=prot.times_s,
            echo_time_ms=prot.te_ms,
            repetition_time_ms=prot.tr_ms,
            flip_angle_deg=prot.flip_deg,
            contrast=True,
            scanning_sequence="GR\\EP",
            sequence_variant="SK",
            extra_json=extra,
        )
    ]
