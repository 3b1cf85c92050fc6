"""Parsing a user's YAML (``case.yaml``) with resource limits, so a hostile or broken file is refused quickly.

PyYAML's SafeLoader builds no objects but still expands aliases (a 1 KB "billion laughs" file grows to
gigabytes), recurses once per nesting level (50,000 levels end in RecursionError) and lets a repeated key
silently replace the first. This module adds the limits on top of a given SafeLoader subclass (the caller
keeps its own constructors): aliases are refused, nesting depth and text size are capped, duplicate keys are
an error. Every refusal is an :class:`~pseudoprog.errors.InputError` naming the file and the line.

It is not a second table loader: ``pseudoprog.files.load_table`` reads the package's own data tables, this
reads what a user hands us.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node

from ..errors import InputError

# A case.yaml of a long history is a few kilobytes; a megabyte is a generated or corrupt file.
MAX_YAML_BYTES = 1_000_000
# case.yaml nests about five levels (timepoints → lesions → mask → labels); 64 leaves room and stays far
# below Python's recursion limit.
MAX_YAML_DEPTH = 64


def _where(node_or_event: Any) -> str:
    mark = getattr(node_or_event, "start_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def limited_loader(base: type[yaml.SafeLoader], *, file: Path) -> type[yaml.SafeLoader]:
    """A subclass of ``base`` that refuses aliases, deep nesting and duplicate keys with InputErrors about ``file``."""

    class _Limited(base):  # type: ignore[valid-type,misc]
        _depth = 0

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            if self.check_event(AliasEvent):
                event = self.peek_event()
                raise InputError(
                    f"uses a YAML alias (*{event.anchor}){_where(event)}: aliases are not accepted",
                    file=file,
                    expected="every value written out in full",
                )
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise InputError(
                        f"nests deeper than {MAX_YAML_DEPTH} levels{_where(self.peek_event())}",
                        file=file,
                        expected="a case description a few levels deep",
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so in its own words
                    break
                if duplicate:
                    raise InputError(
                        f"key '{key}' appears twice in one mapping{_where(key_node)}",
                        file=file,
                        field=str(key),
                        expected="each key once (the second would silently replace the first)",
                    )
            return super().construct_mapping(node, deep=deep)

    return _Limited


def load_user_yaml(text: str, *, file: Path, base: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """Parse ``text`` (the content of ``file``) with the limits above; syntax errors stay ``yaml.YAMLError``.

    >>> load_user_yaml("a: 1", file=Path("case.yaml"))
    {'a': 1}
    """
    # Characters never outnumber bytes: a text too long in characters is refused without encoding it.
    size = len(text) if len(text) > MAX_YAML_BYTES else len(text.encode("utf-8", errors="replace"))
    if size > MAX_YAML_BYTES:
        raise InputError(
            f"is {size:,} bytes long", file=file, expected=f"a case description under {MAX_YAML_BYTES:,} bytes"
        )
    # Flow brackets are counted before parsing: PyYAML's scanner looks ahead for simple keys across every open
    # '[' / '{', so 50,000 of them cost seconds before the composer's depth check is reached. Brackets inside
    # quoted text are counted too: a case.yaml has no reason to hold 64 unclosed ones.
    raw = np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8)
    opening = (raw == ord("[")) | (raw == ord("{"))
    closing = (raw == ord("]")) | (raw == ord("}"))
    depth = np.cumsum(opening.astype(np.int64) - closing.astype(np.int64))
    if depth.size and int(depth.max()) > MAX_YAML_DEPTH:
        raise InputError(
            f"nests deeper than {MAX_YAML_DEPTH} levels of brackets",
            file=file,
            expected="a case description a few levels deep",
        )
    loader = limited_loader(base, file=file)(text)
    try:
        return loader.get_single_data()
    except RecursionError as exc:  # a guard of last resort: the depth limit should stop it first
        raise InputError("nests too deeply to be read", file=file) from exc
    finally:
        loader.dispose()
