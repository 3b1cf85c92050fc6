"""Timeline figure: SPD and volume per timepoint from the assessment JSON."""

from __future__ import annotations

import datetime as dt

import pytest

from pseudoprog.report.timeline import display_settings, response_windows, size_series, timeline_png


def _tp(date: str, *lesions: tuple[float | None, float | None, float | None]) -> dict:
    return {
        "date": date,
        "lesions": [
            {"id": f"L{n}", "enhancing": True,
             "measurement": {"long_mm": a, "perp_mm": b, "enhancing_volume_mm3": v}}
            for n, (a, b, v) in enumerate(lesions, start=1)
        ],
    }


def test_spd_sums_products_of_every_enhancing_lesion_and_volume_is_in_cm3():
    points = size_series([_tp("2026-01-05", (20, 10, 1500.0), (10, 5, None)), _tp("2026-03-01")])
    assert points[0].date == dt.date(2026, 1, 5)
    assert points[0].spd_mm2 == pytest.approx(20 * 10 + 10 * 5)
    assert points[0].volume_cm3 == pytest.approx(1.5)
    assert points[1].spd_mm2 is None and points[1].volume_cm3 is None and points[1].n_lesions == 0


def test_lesion_with_one_diameter_adds_nothing_to_the_spd():
    assert size_series([_tp("2026-01-05", (20, None, None))])[0].spd_mm2 is None


def test_timeline_is_a_png_with_treatments_or_none_without_sizes():
    data = {
        "timepoints": [_tp("2026-03-16", (26, 22, None)), _tp("2026-04-27", (40, 32, 9000.0))],
        "treatments": [{"type": "chemoradiation", "start": "2026-01-05", "end": "2026-02-13"},
                       {"type": "surgery", "start": "2025-12-01", "end": None}],
    }
    png = timeline_png(data)
    assert png is not None and png.startswith(b"\x89PNG")
    assert timeline_png({"timepoints": [_tp("2026-03-16")], "treatments": []}) is None
    with pytest.raises(ValueError, match="dpi"):
        timeline_png(data, dpi=0)


def test_display_numbers_carry_their_source():
    settings = display_settings()
    assert settings["response_window"]["weeks_after_radiotherapy"] == 12
    assert settings["ftb_classes"]["low_below"] < settings["ftb_classes"]["high_above"]
    assert all("clinical_rules.md" in v["source"] for v in settings.values())


def test_the_12_week_window_follows_chemoradiation_in_glioma_only():
    course = {"type": "chemoradiation", "start": "2026-01-05", "end": "2026-02-13"}
    srs = {"type": "srs", "start": "2025-06-02", "end": None}
    glioma = response_windows({"diagnosis": {"type": "glioblastoma"}, "treatments": [course, srs]})
    assert glioma == [(dt.date(2026, 2, 13), dt.date(2026, 2, 13) + dt.timedelta(weeks=12))]
    assert response_windows({"diagnosis": {"type": "metastasis"}, "treatments": [course, srs]}) == []
