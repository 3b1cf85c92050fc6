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
