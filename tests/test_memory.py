"""A run turns NumPy's hugepage advice off unless the user chose (pseudoprog.memory, issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog import memory
from pseudoprog.errors import InputError
from pseudoprog.flow import run

switch = np._core.multiarray._set_madvise_hugepage  # returns the setting it replaces


@pytest.fixture
def advice_restored():
    before = switch(True)
    yield
    switch(before)


def test_the_advice_is_turned_off_when_the_user_did_not_choose(monkeypatch, advice_restored):
    monkeypatch.delenv(memory.ENV, raising=False)
    assert memory.without_hugepage_advice() is True
    assert switch(True) is False  # it was off


def test_the_users_setting_stands(monkeypatch, advice_restored):
    monkeypatch.setenv(memory.ENV, "1")
    assert memory.without_hugepage_advice() is False
    assert switch(True) is True  # untouched


def test_assess_turns_it_off_before_anything_else(monkeypatch, tmp_path, advice_restored):
    monkeypatch.delenv(memory.ENV, raising=False)
    with pytest.raises(InputError):  # a missing folder is the first thing refused, after the switch
        run.assess(tmp_path / "no-such-case", tmp_path / "out")
    assert switch(True) is False


def test_every_command_turns_it_off(monkeypatch, advice_restored):
    from typer.testing import CliRunner

    from pseudoprog.cli import app

    monkeypatch.delenv(memory.ENV, raising=False)
    CliRunner().invoke(app, ["maps", "--help"])
    assert switch(True) is False
