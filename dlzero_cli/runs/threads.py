"""BLAS threads: fix how many a run uses, and record what was in effect.

A run's last bits depend on the BLAS thread count (a Fashion MLP trained with 1 and
with 2 OpenBLAS threads differs by 3e-7 after 2 epochs), so every run records the
count it trained with (manifest.json) and `blas_threads(n)` fixes it, for `dlzero
train --threads N`, a rerun of a recorded run, or a sweep's trial.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator

import numpy as np

from dlzero_cli import __version__
from dlzero_cli.errors import UsageError
from dlzero_cli.runs.documents import BlasLibrary, Environment


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "dlzero": __version__}


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit every loaded BLAS library to `threads` threads inside the block (restored
    afterwards); None leaves them as they are."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise UsageError(f"BLAS threads: got {threads}; give a whole number >= 1")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def blas_libraries() -> tuple[BlasLibrary, ...]:
    """The BLAS libraries loaded now, with the threads each would use."""
    from threadpoolctl import threadpool_info

    return tuple(
        BlasLibrary(
            library=str(info.get("prefix", "")),
            internal_api=str(info.get("internal_api", "")),
            version=info.get("version"),
            num_threads=int(info.get("num_threads", 0)),
        )
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    )


def current_environment(threads_requested: int | None = None) -> Environment:
    """Versions and BLAS as they stand now (call it inside `blas_threads`)."""
    return Environment(versions(), blas_libraries(), threads_requested)
