"""An output folder that is complete or absent: staged beside the destination, locked, published by one rename.

``assess`` writes every file into a hidden staging folder next to the destination (same filesystem, so the
final rename is atomic) while holding an exclusive lock on the destination. Only when everything is written is
the staging folder swapped with the destination: the previous result stays in place until that moment, no file
of an earlier run survives, and a run killed at any point leaves the destination as it was (its staging folder
is removed by the next run). The lock is an ``flock`` on a hidden file beside the destination: the kernel drops
it when the process dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import FileSystemError

_RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths atomically (renameat2, Linux ≥ 3.15)
_AT_FDCWD = -100


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fs_error(exc: OSError, fallback: Path) -> FileSystemError:
    """A filesystem failure as one line naming the path (disk full, read-only, permission, not a folder)."""
    where = exc.filename if exc.filename else fallback
    return FileSystemError(exc.strerror or type(exc).__name__, file=where)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step where the kernel offers it; ``False`` when it does not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the filesystem cannot exchange: fall back to two renames
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(staging: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(staging, dest)
        return
    if _exchange(staging, dest):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous result
        return
    old = staging.with_name(staging.name.replace(".partial", ".old"))
    os.rename(dest, old)  # between these two renames the destination is absent, never partial
    os.rename(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(parent: Path, name: str) -> None:
    """Staging folders of runs that were killed (only ever touched under the lock)."""
    for pattern in (f".{name}.*.partial", f".{name}.*.old"):
        for stale in parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def locked(dest: Path) -> Iterator[None]:
    """Hold the destination's lock; a second run on the same destination is refused at once."""
    lock_path = dest.parent / f".{dest.name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise fs_error(exc, dest.parent) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileSystemError(
                "another pseudoprog run is writing to this folder", file=dest, expected="one run per output folder"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def staged_folder(dest: str | Path) -> Iterator[Path]:
    """Yield a fresh staging folder for ``dest``; on normal exit it replaces ``dest`` in one rename.

    On any exception (including KeyboardInterrupt) the staging folder is removed and ``dest`` is untouched.
    Filesystem failures (read-only, disk full, destination is a file) become one-line FileSystemErrors.
    """
    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise FileSystemError("is a file, not a folder", file=dest, expected="an output folder (or a new name)")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fs_error(exc, dest.parent) from exc
    with locked(dest):
        _remove_leftovers(dest.parent, dest.name)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
            os.chmod(staging, 0o777 & ~_umask())  # a folder like mkdir would make, not mkdtemp's 0700
        except OSError as exc:
            raise fs_error(exc, dest.parent) from exc
        try:
            yield staging
            _swap_in(staging, dest)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise fs_error(exc, dest) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
