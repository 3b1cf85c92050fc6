"""Shared test fixtures: where the reference data lives, and synthetic cases built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Reference data with known truth sits beside the repository (../shared/data); never copied into it.
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


def shared_data(*parts: str) -> Path:
    """Path to a reference data set, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available: {path} (expected ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def phantom_cases(tmp_path_factory: pytest.TempPathFactory):
    """Build synthetic cases lazily, once per test session: ``phantom_cases(scenario, fmt)`` → case folder."""
    from pseudoprog.phantoms.patient import write_synthetic_case

    built: dict[tuple, Path] = {}

    def get(scenario: str = "pseudoprogression", fmt: str = "nifti", **kw) -> Path:
        key = (scenario, fmt, tuple(sorted(kw.items())))
        if key not in built:
            folder = tmp_path_factory.mktemp(f"{scenario}-{fmt}")
            built[key] = write_synthetic_case(folder / "case", scenario=scenario, fmt=fmt, **kw)
        return built[key]

    return get
