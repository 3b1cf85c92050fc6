"""Threads per case: 2 by default, 1 on a cohort worker, a clear error for a bad value."""

from __future__ import annotations

import pytest

from pseudoprog.threads import ENV, case_threads


def test_default_and_override(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert case_threads() == 2
    monkeypatch.setenv(ENV, "1")
    assert case_threads() == 1


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_a_bad_value_is_named(monkeypatch, bad):
    monkeypatch.setenv(ENV, bad)
    with pytest.raises(ValueError, match=ENV):
        case_threads()


def test_overlapping_runs_share_one_blas_thread_and_the_last_restores_the_count() -> None:
    """Runs that overlap without nesting (the reading-room service's cases): the first to end does not give the
    other its BLAS threads back; the count found before the first returns when the last ends."""
    import numpy  # noqa: F401  (loads the BLAS libraries threadpoolctl finds)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    from pseudoprog.threads import blas_in_one_thread

    def blas_threads() -> set[int]:
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        first, second = blas_in_one_thread(), blas_in_one_thread()
        first.__enter__()
        second.__enter__()
        assert blas_threads() == {1}
        first.__exit__(None, None, None)  # the first run ends while the second computes
        assert blas_threads() == {1}
        second.__exit__(None, None, None)
        assert blas_threads() == {2}
