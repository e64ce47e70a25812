"""Ctrl-C and SIGTERM held back while a run's files are written.

A run that stops (completed, diverged, failed or interrupted) writes its final files
with the signals deferred, so that a second Ctrl-C cannot leave summary.json at
`running`. A deferred signal is never dropped: the caller gets the signals that came
and acts on them once the files are written (the run ends with exit 130).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM back while the block runs; the signals that came, in the
    list yielded, for the caller to act on afterwards. Python handlers, not a signal
    mask: BLAS threads would take a masked signal. A signal the process ignored before
    stays ignored (it is left out of the list)."""
    caught: list[int] = []
    signums = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {
            signum: signal.signal(signum, lambda n, _: caught.append(n)) for signum in signums
        }
    except ValueError:  # not the main thread: signals do not reach this thread anyway
        yield caught
        return
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        caught[:] = [n for n in caught if previous[n] is not signal.SIG_IGN]
