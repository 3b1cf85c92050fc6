"""OSIPI DCE-DSC-MRI code collection reference curves: Tofts, extended Tofts, Patlak, VFA T1, SPGR conversion, AIF.

Tolerances are the code collection's (PROVENANCE.md of ``osipi-dce-dsc``): Ktrans 0.005 /min + 10 %, ve 0.05,
vp 0.025; arterial delay 1 s; R1 0.05 /s + 5 %; concentration 1e-5 + 1e-5 relative; Parker AIF 1e-4 + 1 %.
The delayed Patlak set (5 s) is fitted with a delay search over 0–10 s in 0.5 s steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pseudoprog.perfusion.dce.concentration import signal_to_concentration
from pseudoprog.perfusion.dce.fitting import fit_dce
from pseudoprog.perfusion.dce.population_aif import parker_aif
from pseudoprog.perfusion.dce.t1mapping import fit_vfa_t1
from tests.conftest import shared_data

pytestmark = pytest.mark.validation


def _arr(cell) -> np.ndarray:
    return np.array(str(cell).split(), dtype=float)


def _curves(df: pd.DataFrame, col: str) -> np.ndarray:
    return np.stack([_arr(x) for x in df[col]])


@pytest.mark.parametrize(
    ("name", "model", "c_col", "a_col", "kt_col"),
    [
        ("dce_DRO_data_tofts.csv", "tofts", "C", "ca", "Ktrans"),
        ("dce_DRO_data_extended_tofts.csv", "extended_tofts", "C", "ca", "Ktrans"),
        ("patlak_sd_0.02_delay_0.csv", "patlak", "C_t", "cp_aif", "ps"),
    ],
)
def test_osipi_model_curves(name, model, c_col, a_col, kt_col):
    df = pd.read_csv(shared_data("osipi-dce-dsc", "dce_models", name))
    t = _arr(df["t"].iloc[0])
    ca = _curves(df, a_col)
    c = _curves(df, c_col)
    # Each reference case has its own (noisy) AIF: one fit per case
    fits = [fit_dce(c[i : i + 1], t_s=t, cp_mM=ca[i], model=model) for i in range(len(df))]
    kt = df[kt_col].to_numpy()
    np.testing.assert_array_less(np.abs(np.concatenate([f.ktrans for f in fits]) - kt), 0.005 + 0.1 * kt + 1e-12)
    if model != "patlak":
        np.testing.assert_array_less(np.abs(np.concatenate([f.ve for f in fits]) - df["ve"].to_numpy()), 0.05)
    if model != "tofts":
        np.testing.assert_array_less(np.abs(np.concatenate([f.vp for f in fits]) - df["vp"].to_numpy()), 0.025)


def test_osipi_patlak_with_arterial_delay():
    df = pd.read_csv(shared_data("osipi-dce-dsc", "dce_models", "patlak_sd_0.02_delay_5.csv"))
    t = _arr(df["t"].iloc[0])
    ca, c = _curves(df, "cp_aif"), _curves(df, "C_t")
    delays = tuple(np.arange(0.0, 10.01, 0.5))
    fits = [fit_dce(c[i : i + 1], t_s=t, cp_mM=ca[i], model="patlak", delays_s=delays) for i in range(len(df))]
    kt, vp = df["ps"].to_numpy(), df["vp"].to_numpy()
    np.testing.assert_array_less(np.abs(np.concatenate([f.ktrans for f in fits]) - kt), 0.005 + 0.1 * kt + 1e-12)
    np.testing.assert_array_less(np.abs(np.concatenate([f.vp for f in fits]) - vp), 0.025)
    np.testing.assert_array_less(np.abs(np.concatenate([f.delay_s for f in fits]) - df["arterial_delay"]), 1.0)
    # without the delay search the same curves fail: the test can tell
    plain = fit_dce(c[:1], t_s=t, cp_mM=ca[0], model="patlak")
    assert abs(plain.vp[0] - vp[0]) > 0.025


@pytest.mark.parametrize(("name", "r1_scale"), [("t1_brain_data.csv", 1.0), ("t1_quiba_data.csv", 1000.0)])
def test_osipi_vfa_t1(name, r1_scale):
    df = pd.read_csv(shared_data("osipi-dce-dsc", "t1_mapping", name))
    s = _curves(df, "s")
    fa = _curves(df, "FA")
    tr = _curves(df, "TR")
    assert np.allclose(fa, fa[0]) and np.allclose(tr, tr[0])
    fit = fit_vfa_t1(s, flip_angles_deg=fa[0], tr_s=float(tr[0, 0]))
    r1_ref = df["R1"].to_numpy() * r1_scale  # the QIBA set stores R1 in 1/ms
    np.testing.assert_array_less(np.abs(1 / fit.t1_s - r1_ref), 0.05 + 0.05 * r1_ref)


def test_osipi_signal_to_concentration():
    df = pd.read_csv(shared_data("osipi-dce-dsc", "si_to_conc", "SI2Conc_data.csv"))
    for _, row in df.iterrows():
        conc, failed = signal_to_concentration(
            _arr(row["s"]),
            t10_s=float(row["T1base"]),
            flip_angle_deg=float(row["FA"]),
            tr_s=float(row["TR"]),
            relaxivity_per_mM_s=float(row["r1"]),
            n_baseline=int(row["numbaselinepts"]),
            baseline_start=1,  # the reference averages the baseline without the first dynamic
        )
        ref = _arr(row["conc"])
        assert not failed
        np.testing.assert_allclose(conc, ref, atol=1e-5, rtol=1e-5)


def test_osipi_parker_aif():
    df = pd.read_csv(shared_data("osipi-dce-dsc", "population_aif", "ParkerAIF_ref_with_delay.csv"))
    for _, grp in df.groupby("label"):
        t_s = grp["time"].to_numpy() * 60.0
        ours = parker_aif(t_s, delay_s=float(grp["delay"].iloc[0]))
        np.testing.assert_allclose(ours, grp["Cb"].to_numpy(), atol=1e-4, rtol=0.01)
    ref = pd.read_csv(shared_data("osipi-dce-dsc", "population_aif", "ParkerAIF_ref.csv"))
    np.testing.assert_allclose(parker_aif(ref["time"].to_numpy() * 60.0), ref["Cb"].to_numpy(), atol=1e-4, rtol=0.01)
