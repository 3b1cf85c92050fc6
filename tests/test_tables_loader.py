"""The shipped tables read with libyaml's loader are the objects PyYAML's pure-Python safe loader builds."""

from __future__ import annotations

from pathlib import Path

import yaml

import pseudoprog
from pseudoprog.files import load_table


def test_every_table_loads_as_the_safe_loader_reads_it():
    root = Path(pseudoprog.__file__).parent
    tables = sorted(root.rglob("data/*.yaml"))
    assert len(tables) >= 10
    for path in tables:
        package = ".".join(path.parent.parent.relative_to(root).parts)
        assert load_table(package, path.name) == yaml.safe_load(path.read_text(encoding="utf-8")), path
