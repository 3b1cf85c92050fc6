"""pseudoprog.privacy on the libraries' own messages: every value they quote is withheld, the element named."""

from __future__ import annotations

import warnings

import pytest
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.valuerep import DA, validate_value

from pseudoprog.privacy import WITHHELD, describe, redact

BIRTH = "1978-02-30"
IMPOSSIBLE = "19780230"


def _error(call) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    ("vr", "value"),
    [("DA", BIRTH), ("AS", "45 years"), ("CS", "Female"), ("UI", "1.2.03.4"), ("TM", "256199")],
)
def test_pydicoms_validation_message_keeps_the_vr_not_the_value(vr, value):
    message = str(_error(lambda: validate_value(vr, value, config.RAISE)))
    assert value in message  # what pydicom says
    assert value not in redact(message) and f"VR {vr}: {WITHHELD}" in redact(message)


def test_a_date_that_does_not_convert_is_withheld_and_its_element_named():
    source = Dataset()
    source.PatientID, source.PatientBirthDate = "JaneQuinnDoe", IMPOSSIBLE
    exc = _error(lambda: DA(IMPOSSIBLE))
    assert describe(exc, [source]).endswith("(PatientBirthDate (0010,0030) of the source images)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warning on the way, quoting the date (a test's own output)
        exc = _error(lambda: DA(BIRTH))
        source.PatientBirthDate = BIRTH
    assert BIRTH in str(exc)
    assert (
        describe(exc, [source]) == "Unable to convert <value of PatientBirthDate (0010,0030) withheld> to 'DA' object"
    )


def test_an_enumeration_and_pythons_conversions_are_withheld():
    from highdicom.enum import PatientSexValues

    for call, value in (
        (lambda: PatientSexValues("Female"), "Female"),
        (lambda: float("72 kg"), "72 kg"),
        (lambda: int("4 5"), "4 5"),
    ):
        message = str(_error(call))
        assert value in message and value not in redact(message), message


def test_highdicoms_person_name_warning_is_withheld():
    from highdicom.base import check_person_name

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_person_name("JaneQuinnDoe")
    (message,) = [str(w.message) for w in caught]
    assert "JaneQuinnDoe" in message and "JaneQuinnDoe" not in redact(message)
    logged = 'value of argument "patient_name" is potentially invalid: "JaneQuinnDoe"'  # highdicom.base's log line
    assert redact(logged) == f'value of argument "patient_name" is potentially invalid: {WITHHELD}'


def test_redact_is_idempotent_and_leaves_other_text():
    once = redact(f"SR not written: Invalid value for VR DA: '{BIRTH}'.")
    assert redact(once) == once and once == f"SR not written: Invalid value for VR DA: {WITHHELD}."
    assert redact("timepoints[1].date: '2026-13-01' is not a date") == "timepoints[1].date: '2026-13-01' is not a date"
