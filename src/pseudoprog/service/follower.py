"""Follows Orthanc's change feed: each stable study is recorded and, when the patient's context is known, assessed."""

from __future__ import annotations

import logging
import threading

from ..store import Store, utcnow
from .jobs import get_setting, note_study, set_setting
from .pacs import OrthancClient, PacsUnavailable
from .settings import ServiceSettings

log = logging.getLogger(__name__)
CURSOR = "orthanc_change_cursor"
PACS_STATUS = "pacs_status"


def follow_once(store: Store, pacs: OrthancClient) -> int:
    """Read the feed from the stored cursor to its end; returns how many stable studies were seen."""
    since = int(get_setting(store, CURSOR) or 0)
    seen = 0
    while True:
        changes, last, done = pacs.changes(since)
        for change in changes:
            if change.get("ChangeType") == "StableStudy":
                info = pacs.study(change["ID"])
                if info.patient_id and info.study_uid:
                    note_study(store, info.patient_id, info.study_uid, info.study_date)
                    seen += 1
        if last != since:
            set_setting(store, CURSOR, str(last))  # after the studies are recorded: a crash re-reads, never skips
            since = last
        if done or not changes:
            return seen


def follow(settings: ServiceSettings, stop: threading.Event) -> None:
    """The follower thread of ``serve``: polls the feed, backs off while PACS is down and says so in the store."""
    assert settings.orthanc_url
    store = Store(settings.url, migrate=False)
    pacs = OrthancClient(settings.orthanc_url, timeout_s=30)
    failures = 0
    while not stop.is_set():
        try:
            follow_once(store, pacs)
            if failures:
                log.info("PACS reachable again")
            failures = 0
            set_setting(store, PACS_STATUS, "ok")
            wait = settings.poll_s
        except PacsUnavailable as exc:
            failures += 1
            wait = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (failures - 1))
            set_setting(
                store,
                PACS_STATUS,
                f"unreachable since {utcnow():%Y-%m-%d %H:%M:%S} UTC ({exc}); retrying in {wait:.0f} s",
            )
            log.warning("PACS unreachable; retry in %.0f s", wait)
        except Exception:  # never let the follower die silently
            log.exception("change feed")
            wait = settings.backoff_max_s
        stop.wait(wait)
    store.dispose()
