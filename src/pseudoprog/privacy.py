"""No header value in a message: library warnings, log records and error texts withhold what they quote.

pydicom checks every value it reads or writes and says what is wrong by quoting it ('Invalid value for VR DA:
'1978-02-30'.', 'Unable to convert '19780230' to 'DA' object'); highdicom quotes a one-component person name.
Those values are a patient's birth date, name, age or id: they must not reach the console, a log file, the
service's logs, assessment.json or the report. :func:`redact` replaces each quoted value with a placeholder
that keeps what the user needs to fix the file: the element (keyword and tag) and, for warnings, the file.
:func:`install` applies it to every warning shown and every log record; error texts (``InputError``, the
reasons of ``NotAssessed``, the CLI's error line and traceback log, the service's job reasons) call it directly.

The DICOM objects written for PACS keep the values as given: this is about messages only.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterable
from typing import Any

WITHHELD = "<value withheld>"

# (message pattern, the group that is the quoted value). Matched anywhere in a text (an error text may embed
# pydicom's message in ours: "SR not written: Unable to convert '…' to 'DA' object").
_QUOTING: tuple[re.Pattern[str], ...] = (
    # pydicom.valuerep.validate_regex (AS, CS, DA, DT, TM, UI, AE, UR, DS, IS)
    re.compile(r"(?P<head>Invalid value for VR (?P<vr>[A-Z]{2}): )(?P<value>'.*?'|\".*?\"|b'.*?'|b\".*?\")(?=\.|$|\s)"),
    # pydicom.valuerep.DA/DT/TM: an impossible date or time (19780230)
    re.compile(r"(?P<head>Unable to convert )(?P<value>'.*?'|\".*?\")(?= to '(?P<vr>[A-Z]{2})' object)"),
    # pydicom.valuerep.DSfloat / IS
    re.compile(r"(?P<head>Value )(?P<value>\".*?\"|'.*?')(?= is not valid for elements with a VR of (?P<vr>[A-Z]{2}))"),
    # an enumeration refusing a value: highdicom's PatientSexValues ("'Female' is not a valid PatientSexValues")
    re.compile(r"(?P<head>)(?P<value>'[^']*'|\"[^\"]*\")(?= is not a valid [A-Za-z_]\w*)"),
    # Python's own conversions of a header value (float(ds.PatientWeight) of "72 kg", int() of an IS)
    re.compile(r"(?P<head>could not convert string to float: )(?P<value>'.*?'|\".*?\")(?=\)|$|\s|;|,)"),
    re.compile(r"(?P<head>invalid literal for int\(\) with base \d+: )(?P<value>'.*?'|\".*?\")(?=\)|$|\s|;|,)"),
    # highdicom.base.check_person_name, and highdicom.base's log line when that check refuses a name
    re.compile(r"(?P<head>value of argument \"\w+\" is potentially invalid: )(?P<value>\".*\"|'.*')"),
    re.compile(r"(?P<head>The string )(?P<value>\".*?\"|'.*?')(?= is unlikely to represent the intended person name)"),
)
# The library messages a warning or log line is rewritten for: the quoting ones above, and pydicom's checks that
# quote nothing but name neither the element nor the file (the length of an SH, the groups of a PN).
_VALIDATION = re.compile(
    r"Invalid value for VR|Unable to convert .* to '[A-Z]{2}' object|is not valid for elements with a VR of"
    r"|exceeds the maximum length of \d+ allowed for VR|The number of PN components"
    r"|The PN component length|is unlikely to represent the intended person name|is not a valid [A-Za-z_]\w*"
    r"|could not convert string to float|invalid literal for int\(\)|is potentially invalid: "
)


def _placeholder(element: str | None) -> str:
    return f"<value of {element} withheld>" if element else WITHHELD


def _element_name(elem: Any) -> str | None:
    tag = getattr(elem, "tag", None)
    if tag is None:
        return None
    try:
        from pydicom.datadict import keyword_for_tag

        keyword = keyword_for_tag(tag)
    except Exception:
        keyword = ""
    where = f"({int(tag) >> 16:04X},{int(tag) & 0xFFFF:04X})"
    return f"{keyword} {where}" if keyword else where


def _holder(value: str, datasets: Iterable[Any]) -> str | None:
    """The top-level element of one of ``datasets`` whose text is ``value`` (to name it in the placeholder)."""
    for ds in datasets:
        try:
            elements = list(ds.values()) if hasattr(ds, "values") else []
        except Exception:
            continue
        for raw in elements:
            try:
                text = raw.value
                if isinstance(text, bytes):
                    text = text.decode("latin-1", "replace")
                if text is not None and str(text).strip() == value.strip():
                    return _element_name(raw)
            except Exception:
                continue
    return None


def _unquote(quoted: str) -> str:
    if quoted[:1] == "b":
        quoted = quoted[1:]
    return quoted[1:-1]


def redact(text: str, *, element: str | None = None, datasets: Iterable[Any] = ()) -> str:
    """``text`` with every value a library message quotes replaced by a placeholder.

    ``element`` names the element the value belongs to, when the caller knows it; else the placeholder names
    the element of ``datasets`` (e.g. the source images of a DICOM output) that holds the value, if one does.
    """
    if not text:
        return text
    held = tuple(datasets)

    def sub(match: re.Match[str]) -> str:
        name = element or (_holder(_unquote(match["value"]), held) if held else None)
        return match["head"] + _placeholder(name)

    for pattern in _QUOTING:
        text = pattern.sub(sub, text)
    return text


def _converted_in(exc: BaseException, datasets: tuple[Any, ...]) -> str | None:
    """The element of ``datasets`` whose value pydicom was converting when ``exc`` was raised (from its frames).

    pydicom's DA of an impossible date (19780230) fails with Python's own "day is out of range for month": the
    text names neither the value nor the element; the value is in the converting frame's ``val``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_globals.get("__name__", "").startswith("pydicom."):
                for key in ("val", "value"):
                    value = frame.f_locals.get(key)
                    if isinstance(value, str) and value.strip():
                        name = _holder(value, datasets)
                        if name:
                            return name
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return None


def describe(exc: BaseException, datasets: Iterable[Any] = ()) -> str:
    """An error's text for the user: quoted header values withheld and, where it can be told, the element of
    ``datasets`` (the source images of an output) that the error is about named."""
    held = tuple(datasets)
    text = redact(str(exc), datasets=held)
    if held and "<value of " not in text:
        name = _converted_in(exc, held)
        if name:
            text = f"{text} ({name} of the source images)"
    return text


def _where_from_stack(limit: int = 60) -> tuple[str | None, str | None]:
    """(element, file) of the pydicom value being converted or checked, from the calling frames (if any)."""
    element: str | None = None
    file: str | None = None
    try:
        from pydicom.dataelem import DataElement, RawDataElement
        from pydicom.dataset import Dataset
    except Exception:  # pragma: no cover - pydicom is a dependency
        return None, None
    frame = sys._getframe(1)
    for _ in range(limit):
        if frame is None:
            break
        local = frame.f_locals
        me = local.get("self")
        if element is None:
            for candidate in (me, local.get("raw"), local.get("elem"), local.get("data_element")):
                if isinstance(candidate, (DataElement, RawDataElement)):
                    element = _element_name(candidate)
                    break
        for holder in (me, local.get("ds")):
            if file is None and isinstance(holder, Dataset):
                name = getattr(holder, "filename", None)
                if isinstance(name, str) and name:
                    file = name
        if element is not None and file is not None:
            break
        frame = frame.f_back  # type: ignore[assignment]
    return element, file


def redact_with_context(text: str) -> str:
    """A library warning or log line as it is shown: quoted values withheld; the element and file named."""
    if not text or not _VALIDATION.search(text):
        return text
    element, file = _where_from_stack()
    out = redact(text, element=element)
    parts = [element] if element and element not in out else []
    if file:
        parts.append(f"in {file}")
    return f"{out} ({', '.join(parts)})" if parts else out


# -- installation: the warnings shown and the log records of this process ----------------------------------

_ORIGINAL_FORMAT = warnings.formatwarning


def _formatwarning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return _ORIGINAL_FORMAT(redact_with_context(str(message)), category, filename, lineno, line)


class _RedactingRecord(logging.LogRecord):
    """A log record whose message (and traceback text) has quoted header values withheld when it is made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            message = self.getMessage()
        except Exception:
            return  # a malformed call: logging reports it when the record is formatted
        cleaned = redact_with_context(message)
        if cleaned != message:
            self.msg, self.args = cleaned, ()
        if self.exc_info and self.exc_info[1] is not None:
            text = logging.Formatter().formatException(self.exc_info)
            cleaned = redact(text)
            if cleaned != text:
                self.exc_text = cleaned


_installed = False


def install() -> None:
    """Withhold quoted header values in every warning shown and every log record of this process (idempotent)."""
    global _installed
    if _installed:
        return
    warnings.formatwarning = _formatwarning  # also what logging.captureWarnings uses
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(_RedactingRecord)
    else:  # someone else's factory: wrap it
        made = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = made(*args, **kwargs)
            message = record.getMessage()
            cleaned = redact_with_context(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
            return record

        logging.setLogRecordFactory(factory)
    _installed = True
