"""Run every benchmark module in this folder (``make bench``); each prints its own table and ratio."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.endswith("_bench"))
    if not names:
        print("no benchmarks found")
        return 1
    failed = []
    for name in names:
        print(f"== benchmarks.{name}")
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            module.main()
        except Exception as exc:  # one failing benchmark must not hide the others' results
            print(f"benchmarks.{name} failed: {type(exc).__name__}: {exc}")
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
