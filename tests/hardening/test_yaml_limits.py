"""case.yaml resource limits: aliases, nesting, size and duplicate keys are refused quickly with an InputError."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pseudoprog.errors import InputError
from pseudoprog.ingest import read_case_yaml
from pseudoprog.ingest.safe_yaml import MAX_YAML_BYTES, load_user_yaml

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]"
        for i in range(8)
    ]
)


def _case(tmp_path: Path, text: str) -> Path:
    case = tmp_path / "case"
    case.mkdir()
    (case / "case.yaml").write_text(text)
    return case


def _refused_fast(case: Path, words: str) -> InputError:
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        read_case_yaml(case)
    assert time.perf_counter() - start < 1.0
    assert "case.yaml" in str(err.value) and words in str(err.value)
    return err.value


def test_billion_laughs_is_refused_in_under_a_second(tmp_path):
    assert len(BILLION_LAUGHS) < 2000
    _refused_fast(_case(tmp_path, BILLION_LAUGHS), "alias")


@pytest.mark.parametrize("style", ["block", "flow"])
def test_deep_nesting_is_refused_in_under_a_second(tmp_path, style):
    depth = 50_000
    text = "[" * depth + "]" * depth if style == "flow" else "- " * 3000 + "x"
    _refused_fast(_case(tmp_path, "patient: " + text if style == "flow" else text), "nests deeper")


def test_oversized_file_is_refused_in_under_a_second(tmp_path):
    text = "patient: {id: P1}\nnotes: |\n" + ("  " + "x" * 99 + "\n") * (64 * MAX_YAML_BYTES // 100)
    _refused_fast(_case(tmp_path, text), "bytes long")


def test_duplicate_keys_are_an_error_naming_the_key_and_line(tmp_path):
    err = _refused_fast(
        _case(tmp_path, "patient: {id: P1}\ndiagnosis: {type: glioblastoma}\npatient: {id: P2}\n"), "appears twice"
    )
    assert err.field == "patient" and "line 3" in str(err)


def test_nested_duplicate_keys_are_an_error(tmp_path):
    with pytest.raises(InputError, match="'id' appears twice"):
        load_user_yaml("patient:\n  id: P1\n  id: P2\n", file=tmp_path / "case.yaml")


def test_plain_yaml_still_loads(tmp_path):
    data = load_user_yaml("a: [1, 2, {b: c}]\nd: 2026-01-01\n", file=tmp_path / "x.yaml")
    assert data["a"][2] == {"b": "c"}
