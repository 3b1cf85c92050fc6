"""Every path case.yaml names stays inside the case folder (symlinks followed), unless a root is allowed.

A case folder is what a user hands over; ``images: /etc`` or ``rtdose: /etc/passwd`` must not make pseudoprog
read the rest of the machine. Paths are resolved (symlinks followed) before they are compared, so a link inside
the case folder that points elsewhere is caught too. Other roots are accepted only when the caller names them
(``pseudoprog assess --allow-root DIR``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..case import Case
from ..errors import InputError


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    real = path.resolve()
    return any(real == root or root in real.parents for root in roots)


def confine_paths(case: Case, *, case_file: Path, allow_roots: Sequence[str | Path] = ()) -> None:
    """Raise InputError naming case.yaml and the field of the first path outside the case folder and allowed roots."""
    roots = [Path(case.root or case_file.parent).resolve(), *(Path(r).resolve() for r in allow_roots)]
    named: list[tuple[str, Path]] = []
    if case.rtdose is not None:
        named.append(("rtdose", case.rtdose))
    for tp in case.timepoints:
        where = f"timepoints[date {tp.date.isoformat()}]"
        if tp.image_dir is not None:
            named.append((f"{where}.images", tp.image_dir))
        named.extend((f"{where}.mask", m.path) for m in tp.masks)
    for field, path in named:
        if not _inside(Path(path), roots):
            raise InputError(
                f"'{path}' is outside the case folder",
                file=case_file,
                field=field,
                expected="a path inside the case folder (or pass --allow-root for another folder)",
            )
