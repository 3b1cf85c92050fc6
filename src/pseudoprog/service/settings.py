"""What one running service is configured with (``pseudoprog serve`` options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..store import default_url


@dataclass(frozen=True)
class ServiceSettings:
    """Options of ``pseudoprog serve``; times in seconds."""

    data_dir: Path
    db_url: str = ""
    orthanc_url: str | None = None
    token_ttl_s: float = 8 * 3600.0  # one working day; a reader logs in again after that
    lease_s: float = 60.0  # a running job not heart-beaten for this long was left by a dead worker
    poll_s: float = 2.0  # change feed and job queue polling
    backoff_base_s: float = 5.0  # PACS unreachable: retry after 5, 10, 20 … s
    backoff_max_s: float = 300.0
    max_attempts: int = 5  # an assessment that crashes its worker this often is failed, not retried for ever
    web_dir: Path | None = None
    # The export endpoint: de-identified (PS3.15 Basic Profile, pseudonyms) unless False; dates shifted or removed.
    export_deidentified: bool = True
    export_dates: str = "shift"

    @property
    def url(self) -> str:
        return self.db_url or default_url(self.data_dir)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"
