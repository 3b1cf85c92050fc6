"""Protocol checks against the DSC consensus (clinical_rules.md §4.5-4.6)."""

from __future__ import annotations

import numpy as np

from pseudoprog.case import AcquisitionParams
from pseudoprog.perfusion.dsc.protocol import check_dsc_protocol, preload_recorded

GOOD = AcquisitionParams(
    echo_time_ms=30.0,
    repetition_time_ms=1500.0,
    flip_angle_deg=60.0,
    field_strength_t=3.0,
    slice_thickness_mm=4.0,
    extra={"ContrastPreloadGiven": True},
)
TIMES = np.arange(80) * 1.5


def _check(params: AcquisitionParams, **kw) -> list[str]:
    args = {"baseline_frames": 15, "frame_times_s": TIMES, "spacing_mm": (2.0, 2.0, 4.0), "leakage_method": "bsw"}
    args.update(kw)
    return check_dsc_protocol(params, **args)


def test_consensus_protocol_passes() -> None:
    assert _check(GOOD) == []
    assert preload_recorded(GOOD) is True


def test_each_departure_is_named() -> None:
    from dataclasses import replace

    assert any("TE 45" in w for w in _check(replace(GOOD, echo_time_ms=45.0)))
    assert any("TE 22" in w and "Thust" in w for w in _check(replace(GOOD, echo_time_ms=22.0)))
    assert any("TR 2000" in w for w in _check(replace(GOOD, repetition_time_ms=2000.0)))
    assert any("baseline" in w for w in _check(GOOD, baseline_frames=6))
    assert any("lasts" in w for w in _check(GOOD, frame_times_s=np.arange(40) * 1.5))
    assert any("temporal resolution" in w for w in _check(GOOD, frame_times_s=np.arange(60) * 2.0))
    assert any("in-plane" in w for w in _check(GOOD, spacing_mm=(1.0, 1.0, 4.0)))
    no_preload = replace(GOOD, extra={"ContrastPreloadGiven": False})
    assert any("without a preload" in w and "biased" in w for w in _check(no_preload, leakage_method="none"))
    unknown = replace(GOOD, extra={})
    assert any("preload" in w and "not recorded" in w for w in _check(unknown))
    at_15 = replace(GOOD, field_strength_t=1.5)
    assert any("TE 30" in w and "1.5 T" in w for w in _check(at_15))
    assert _check(replace(at_15, echo_time_ms=45.0)) == []


def test_missing_fields_are_reported_not_passed() -> None:
    warnings = _check(AcquisitionParams(extra={"ContrastPreloadGiven": True}))
    assert any("echo time not recorded" in w for w in warnings)
    assert any("repetition time not recorded" in w for w in warnings)
    assert any("flip angle not recorded" in w for w in warnings)
