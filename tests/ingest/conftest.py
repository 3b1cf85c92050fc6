"""Fixtures for the ingest tests: the .rda writer the spectroscopy tests also use (for the vendor MRS readers)."""

from tests.spectroscopy.conftest import write_rda  # noqa: F401  (a fixture, registered by being here)
