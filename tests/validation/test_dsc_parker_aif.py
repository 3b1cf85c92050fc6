"""The DSC phantom's arterial input is the Parker population AIF: checked against the OSIPI reference values.

Data: ../shared/data/osipi-dce-dsc/population_aif/ParkerAIF_ref.csv (time in minutes, Cb in mM, no delay) and
ParkerAIF_ref_with_delay.csv. Tolerance (OSIPI): 1e-4 mM absolute + 1 % relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.phantoms.dsc import parker_aif
from tests.conftest import shared_data

pytestmark = pytest.mark.validation


@pytest.mark.parametrize("name", ["ParkerAIF_ref.csv", "ParkerAIF_ref_with_delay.csv"])
def test_parker_aif_matches_reference(name: str) -> None:
    import pandas as pd

    table = pd.read_csv(shared_data("osipi-dce-dsc", "population_aif", name))
    assert len(table) > 100
    for (_label, delay), rows in table.groupby(["label", "delay"]):
        got = parker_aif(rows["time"].to_numpy() * 60.0, delay_s=float(delay))  # delay column in seconds
        ref = rows["Cb"].to_numpy()
        assert np.all(np.abs(got - ref) <= 1e-4 + 0.01 * np.abs(ref)), f"{_label} delay {delay}"
