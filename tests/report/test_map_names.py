"""Map names from the map stages resolve to the quantity the report and DICOM writers know."""

from __future__ import annotations

from pseudoprog.report.dicom_pmap import QUANTITIES
from pseudoprog.report.map_names import canonical_map_name
from pseudoprog.report.panels import PANEL_MAPS


def test_acquisition_prefixes_are_dropped_and_variants_are_not_confused():
    assert canonical_map_name("dsc_rcbv", QUANTITIES) == "rcbv"
    assert canonical_map_name("dce_ktrans", QUANTITIES) == "ktrans"
    assert canonical_map_name("asl_cbf", QUANTITIES) == "asl_cbf"  # its own quantity, looked up whole first
    assert canonical_map_name("adc", PANEL_MAPS) == canonical_map_name("adc_adc", PANEL_MAPS) == "adc"
    assert canonical_map_name("adc_s0", QUANTITIES) is None
    assert canonical_map_name("dsc_rcbv_uncorrected", QUANTITIES) is None
    assert canonical_map_name("dsc_brain_mask", PANEL_MAPS) is None
    assert canonical_map_name("pet_rcbv", QUANTITIES) is None  # an unknown prefix is not guessed
