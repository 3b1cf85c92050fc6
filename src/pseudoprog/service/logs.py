"""Application logs without patient identifiers: the access log shows ``/api/patients/<id>``, not the PatientID."""

from __future__ import annotations

import logging
import re

from .. import privacy

_PATIENT_PATH = re.compile(r"(/api/patients/)[^/?\s]+")


def redact(text: str) -> str:
    return _PATIENT_PATH.sub(r"\1<id>", text)


class RedactPatientIds(logging.Filter):
    """Rewrites request paths in log records (uvicorn's access log passes the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Attach the filter to the loggers that see request paths; quiet the DICOMweb client's per-request lines.

    Also withholds the header values library warnings and log records quote (:func:`pseudoprog.privacy.install`).
    """
    privacy.install()
    for name in ("uvicorn.access", "uvicorn.error", "pseudoprog"):
        logging.getLogger(name).addFilter(RedactPatientIds())
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
