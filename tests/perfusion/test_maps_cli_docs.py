"""The README's `pseudoprog maps dsc|dce` lines name the options and choices `--help` shows (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pseudoprog.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_block(command: str) -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"pseudoprog maps {command} "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    return "\n".join(block)


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        ("dsc", {"--leakage": "auto|bsw|bjornerud|none", "--deconvolution": "osvd|csvd|ssvd"}),
        ("dce", {"--aif": "auto|population", "--model": "extended_tofts|tofts|patlak"}),
    ],
)
def test_readme_options_match_help(command: str, choices: dict[str, str]) -> None:
    doc = _readme_block(command)
    result = CliRunner().invoke(app, ["maps", command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    helptext = re.sub(r"\s+", " ", result.output)
    documented = set(re.findall(r"--[a-z0-9-]+", doc))
    offered = set(re.findall(r"--[a-z0-9-]+", helptext)) - {"--help"}
    assert documented == offered, (documented, offered)
    for option, values in choices.items():
        assert f"{option} {values}" in doc
        assert all(v in helptext for v in values.split("|"))


def test_help_default_leakage_is_auto_and_t10_is_documented() -> None:
    out = CliRunner().invoke(app, ["maps", "dsc", "--help"], env={"COLUMNS": "200"}).output
    assert "[default: auto]" in out
    out = CliRunner().invoke(app, ["maps", "dce", "--help"], env={"COLUMNS": "200"}).output
    assert "--t10-ms" in out and "--t10-ms MS" in _readme_block("dce")
