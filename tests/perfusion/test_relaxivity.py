"""r1 from the contrast agent (DICOM ContrastBolusAgent, trade or chemical names) and field strength (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion import dce
from pseudoprog.perfusion.tables import load_table


@pytest.mark.parametrize(
    ("agent", "field", "r1"),
    [
        ("Gadavist", 3.0, 5.0),
        ("GADOVIST 1.0", 1.5, 5.2),
        ("gadobutrol", 2.89, 5.0),
        ("Dotarem", 1.5, 3.6),
        ("Clariscan 0.5 mmol/ml", 3.0, 3.5),
        ("Gd-DOTA", 3.0, 3.5),
        ("gadoterate meglumine", 3.0, 3.5),
        ("MultiHance", 1.5, 6.3),
        ("Magnevist", 1.5, 4.1),
        ("Gd-DTPA", 3.0, 3.7),
        ("ProHance", 3.0, 3.7),
        ("Omniscan", 1.5, 4.3),
        ("Gd-DTPA-BMA", 1.5, 4.3),  # not gadopentetate: the longest name wins
        ("Eovist", 3.0, 6.2),
        ("Primovist", 1.5, 6.9),
        ("Elucirem", 3.0, 11.6),
        ("Vueway", 1.5, 12.8),
    ],
)
def test_agent_names_and_field_give_the_tabulated_r1(agent: str, field: float, r1: float) -> None:
    value, source = dce.relaxivity_for(agent, field)
    assert value == r1
    assert "assumed" not in source
    assert ("Robic" if r1 > 10 else "Rohrer") in source


def test_unknown_agent_or_field_is_a_stated_assumption() -> None:
    value, source = dce.relaxivity_for("Contrastin X", 3.0)
    assert value == 4.5 and "'Contrastin X' not recognised" in source and "assumed" in source and "QIBA" in source
    value, source = dce.relaxivity_for(None, 1.5)
    assert value == 4.5 and "not recorded" in source and "assumed" in source
    value, source = dce.relaxivity_for("Gadovist", None)
    assert value == 5.0 and "field strength not recorded: 3 T assumed" in source
    value, source = dce.relaxivity_for("Gadovist", 7.0)
    assert value == 5.0 and "7 T is not tabulated" in source


def test_every_agent_has_both_fields_and_every_alias_a_known_agent() -> None:
    table = load_table("dce_constants")["relaxivity_per_mM_s"]
    for agent, values in table["agents"].items():
        assert set(values) == {"1.5", "3.0"}, agent
        assert all(2.0 < v < 25.0 for v in values.values())
    assert set(table["aliases"].values()) <= set(table["agents"])


def test_unknown_agent_warns_and_the_parameters_say_so() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0, 240, 4.0)
    sig = 100 + rng.normal(0, 0.5, (4, 4, 1, t.size))
    sig[..., 10:] += 30.0
    res = dce.compute_dce_maps(
        sig, t, flip_angle_deg=15.0, tr_s=0.005, t10_s=1.0, contrast_agent="Contrastin X", aif="population",
        field_strength_t=3.0,
    )  # fmt: skip
    assert res.parameters["relaxivity_per_mM_s"] == 4.5
    assert "assumed" in res.parameters["relaxivity_source"]
    assert any("relaxivity" in w and "assumed" in w for w in res.warnings)
