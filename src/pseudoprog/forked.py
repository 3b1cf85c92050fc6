"""Run a piece of Python work in a forked child process beside the run, where that is safe.

Python threads cannot run Python code at the same time (the GIL), so two pieces of pure-Python work (drawing the
report's figures with matplotlib, writing DICOM objects with highdicom) take the sum of their times on any
number of cores. A forked child runs one of them on the second core: it starts with the parent's memory as it
is (no arguments are pickled, however large the images) and sends back only its small result.

Only when the case may use two threads (``threads.case_threads()``), the platform forks, and the parent runs a
single thread (a fork copies no other thread's half-held lock; the reading-room service runs cases in threads,
so it runs the work inline). If the child fails or dies, the work is done again in the parent, so the result and
any error are exactly those of running it inline.

The work must not use GLib-based libraries (pango, through WeasyPrint): the parent may have used them (a thread
loading them ahead of the report, an earlier case in the same process), and a GLib lock copied while held makes the
child wait for ever — met in CI, a child stuck in ``g_slice_alloc`` laying out a PDF. Python's own locks and
matplotlib's Agg drawing are safe here; a hung child would leave the run waiting with no error, so when in doubt the
work stays in the run.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from .ingest.parse_workers import frozen_heap
from .threads import case_threads

log = logging.getLogger(__name__)
T = TypeVar("T")


def can_fork() -> bool:
    """Whether work may run in a forked child now (see the module docstring)."""
    return (
        case_threads() > 1 and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    )


def beside(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` in a forked child (or, when that is not safe, run it now); returns a call that waits for
    its result. The work must not change the parent's state except through what it returns (files it writes
    are seen by both)."""
    if not can_fork():
        value = work()
        return lambda: value
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(work, send), name="pseudoprog-beside", daemon=True)
    try:
        with frozen_heap():  # the child's garbage collector leaves the inherited objects (and their pages) alone
            child.start()
    except OSError:  # no process to be had (limits, memory): the work is done here
        send.close()
        receive.close()
        value = work()
        return lambda: value
    send.close()

    def result() -> T:
        try:
            ok, value = receive.recv()
        except (EOFError, OSError):  # the child died before answering
            ok, value = False, None
        finally:
            receive.close()
            child.join()
        if ok:
            return value
        log.warning("work in a child process failed; done again in this process")
        return work()

    return result


def _child(work: Callable[[], Any], send: Connection) -> None:
    try:
        value = work()
    except BaseException:  # the parent runs the work again and meets the same error with its traceback
        send.send((False, None))
    else:
        try:
            send.send((True, value))
        except Exception:  # an unpicklable result: the parent makes it itself
            send.send((False, None))
    finally:
        send.close()
