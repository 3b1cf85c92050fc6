"""OSIPI DSC digital reference object: CBV and CBF of all 14 cases within the OSIPI tolerances.

Data: ../shared/data/osipi-dce-dsc/dsc_dro/dsc_data.csv (PROVENANCE.md): tissue and AIF concentration curves
(gamma transit-time distribution, CNR 200, no delay), truth CBV in ml/100 ml and CBF in ml/100 ml/min.
Tolerance rule (OSIPI code collection): |estimate − truth| ≤ a_tol + r_tol · truth, with CBV a_tol 1 / r_tol 0.1
and CBF a_tol 15 / r_tol 0.1. CBV and CBF are computed without kH/ρ (the DRO truth has none).
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion.dsc.deconvolution import deconvolve
from pseudoprog.perfusion.dsc.signal import integral
from tests.conftest import shared_data

pytestmark = pytest.mark.validation


def _cases():
    import pandas as pd

    path = shared_data("osipi-dce-dsc", "dsc_dro", "dsc_data.csv")
    table = pd.read_csv(path)
    out = []
    for _, row in table.iterrows():
        ct = np.fromstring(row["C_tis"], sep=" ")
        ca = np.fromstring(row["C_aif"], sep=" ")
        out.append((row["label"], ct, ca, float(row["cbv"]), float(row["cbf"]), float(row["tr"])))
    return out


@pytest.mark.parametrize("method", ["osvd", "csvd", "ssvd"])
def test_cbv_and_cbf_within_osipi_tolerance(method: str) -> None:
    cases = _cases()
    assert len(cases) == 14
    tissue = np.stack([c[1] for c in cases])
    for label, ct, ca, cbv_true, cbf_true, dt in cases:
        t = np.arange(ct.size) * dt
        cbv = 100 * float(integral(ct[None], t)[0] / integral(ca, t))
        cbf = 6000 * float(deconvolve(ct[None], ca, dt, method=method).flow[0])  # type: ignore[arg-type]
        assert abs(cbv - cbv_true) <= 1 + 0.1 * cbv_true, f"{label}: CBV {cbv:.2f} vs {cbv_true}"
        assert abs(cbf - cbf_true) <= 15 + 0.1 * cbf_true, f"{label}: CBF {cbf:.1f} vs {cbf_true}"
    assert tissue.shape[0] == 14
