"""Orthanc as the PACS: its change feed (REST), QIDO-RS / WADO-RS to fetch a patient's studies, STOW-RS to store.

Only source images are fetched (MR, PT, CT); the objects pseudoprog stored earlier (SEG, SR, Parametric Map as
'OT', Encapsulated PDF as 'DOC') are left in PACS and never fed back into an assessment.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from ..errors import PseudoprogError

SOURCE_MODALITIES = frozenset({"MR", "PT", "CT"})


class PacsUnavailable(PseudoprogError):
    """PACS did not answer (connection refused, timeout, 5xx): the job waits and retries."""


@dataclass(frozen=True)
class StudyInfo:
    study_uid: str
    patient_id: str
    study_date: dt.date | None


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


class OrthancClient:
    """REST and DICOMweb calls to one Orthanc (``url`` like http://127.0.0.1:8042)."""

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self.web = DICOMwebClient(url=self.url + "/dicom-web", session=self._session)
        self.web.set_http_retry_params(retry=False)  # the job queue retries with its own backoff, visibly

    def _get(self, path: str, **params: Any) -> Any:
        try:
            r = self._session.get(self.url + path, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise PacsUnavailable(f"PACS unreachable ({type(exc).__name__})") from None
        if r.status_code >= 500:
            raise PacsUnavailable(f"PACS answered HTTP {r.status_code}")
        r.raise_for_status()
        return r.json()

    def ping(self) -> bool:
        try:
            self._get("/system")
        except PacsUnavailable:
            return False
        return True

    def changes(self, since: int, *, limit: int = 100) -> tuple[list[dict[str, Any]], int, bool]:
        """Changes after ``since``: (changes, last sequence number, done)."""
        data = self._get("/changes", since=since, limit=limit)
        return list(data.get("Changes", [])), int(data.get("Last", since)), bool(data.get("Done", True))

    def last_change(self) -> int:
        return int(self._get("/changes", last="")["Last"])

    def study(self, orthanc_id: str) -> StudyInfo:
        data = self._get(f"/studies/{orthanc_id}")
        main = data.get("MainDicomTags", {})
        return StudyInfo(
            study_uid=main.get("StudyInstanceUID", ""),
            patient_id=data.get("PatientMainDicomTags", {}).get("PatientID", ""),
            study_date=_date(main.get("StudyDate")),
        )

    def _web(self, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except requests.ConnectionError:
            raise PacsUnavailable("PACS unreachable (DICOMweb)") from None
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            if code >= 500 or code == 0:
                raise PacsUnavailable(f"PACS answered HTTP {code} (DICOMweb)") from None
            raise

    def patient_studies(self, patient_id: str) -> list[StudyInfo]:
        """QIDO-RS: the patient's studies, oldest first."""
        found = self._web(self.web.search_for_studies, search_filters={"PatientID": patient_id})
        studies = [
            StudyInfo(study_uid=_value(s, "0020000D"), patient_id=patient_id, study_date=_date(_value(s, "00080020")))
            for s in found
        ]
        return sorted(studies, key=lambda s: (s.study_date or dt.date.min, s.study_uid))

    def fetch_study(self, study_uid: str, dest: Path, *, cache: Path | None = None) -> int:
        """WADO-RS: every source-image series of a study into ``dest/<series>/NNNNN.dcm``; returns files placed.

        With ``cache``, a series fetched whole before is linked from there instead of fetched again (a stable
        series does not change; a re-assessment then only fetches the new study).
        """
        series = self._web(self.web.search_for_series, study_instance_uid=study_uid)
        placed = 0
        for item in series:
            if _value(item, "00080060") not in SOURCE_MODALITIES:
                continue
            desc = str(_value(item, "0008103E") or "")
            if desc.startswith("pseudoprog "):
                continue  # our own derived objects
            series_uid = str(_value(item, "0020000E"))
            store_dir = (cache / series_uid) if cache is not None else dest / series_uid
            if not (store_dir / ".complete").exists():
                partial = store_dir.with_name(store_dir.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                for i, ds in enumerate(
                    self._web(self.web.retrieve_series, study_instance_uid=study_uid, series_instance_uid=series_uid)
                ):
                    ds.save_as(partial / f"{i:05d}.dcm", enforce_file_format=True)
                (partial / ".complete").touch()
                shutil.rmtree(store_dir, ignore_errors=True)
                partial.rename(store_dir)
            if cache is not None:
                target = dest / series_uid
                target.mkdir(parents=True, exist_ok=True)
                for f in store_dir.glob("*.dcm"):
                    try:
                        os.link(f, target / f.name)
                    except OSError:
                        shutil.copy2(f, target / f.name)
            (dest / series_uid / ".complete").unlink(missing_ok=True)
            placed += sum(1 for _ in (dest / series_uid).glob("*.dcm"))
        return placed

    def store(self, ds: Dataset) -> None:
        """STOW-RS one instance; Orthanc keeps one copy per SOPInstanceUID, so storing again is harmless."""
        response = self._web(self.web.store_instances, datasets=[ds])
        failed = getattr(response, "FailedSOPSequence", None) if response is not None else None
        if failed:
            raise PseudoprogError(f"PACS refused {ds.SOPInstanceUID}: {failed}")

    def find_instances(self, patient_id: str, modality: str) -> list[str]:
        """Orthanc ids of a patient's instances of one modality (SEG, SR, OT, DOC …)."""
        try:
            r = self._session.post(
                self.url + "/tools/find",
                json={"Level": "Instance", "Query": {"PatientID": patient_id, "Modality": modality}},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise PacsUnavailable(f"PACS unreachable ({type(exc).__name__})") from None
        r.raise_for_status()
        return list(r.json())

    def instance_file(self, orthanc_id: str) -> bytes:
        r = self._session.get(f"{self.url}/instances/{orthanc_id}/file", timeout=self.timeout_s)
        r.raise_for_status()
        return r.content


def read_header(path: Path) -> Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)
