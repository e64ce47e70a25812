"""Atomic file writes: a temporary file in the target's folder, renamed into place.

A crash, a full disk or Ctrl-C mid-write leaves the previous file untouched (and at
worst a hidden `.NAME.*.tmp` file after a SIGKILL), never a half-written one under the
real name. A write that fails (no space, read-only, permission denied) removes its
temporary file and raises WriteError: one line naming the file and the cause.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from dlzero_cli.errors import WriteError


def _default_mode() -> int:
    # mkstemp creates 0600 files; give the file the permissions open() would have.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_open(path: Path, mode: str = "w", durable: bool = True) -> Iterator[IO[Any]]:
    """Write `path` through a temporary file; `durable` also fsyncs before the rename.

    An OSError on the way (creating, writing, syncing, renaming) becomes WriteError;
    whatever goes wrong, the temporary file is removed and `path` is as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        os.fchmod(fd, _default_mode())
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:  # the rename itself is in the folder: sync it too (cheap)
            fsync_dir(path.parent)
    except WriteError:
        _discard(tmp)
        raise
    except OSError as exc:
        _discard(tmp)
        raise WriteError(path, exc) from None
    except BaseException:
        _discard(tmp)
        raise


def fsync_dir(folder: Path) -> None:
    """Sync a folder's entries (a rename into it) to disk; a no-op where folders cannot
    be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise  # EIO: the folder's entries may not be on disk
    finally:
        os.close(fd)


def _discard(tmp: str) -> None:
    """Remove a temporary file; a folder that refuses even that keeps it (hidden)."""
    try:
        Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass


def make_temp(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new temp file in `folder` with open()'s usual permissions: (fd, path)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.fchmod(fd, _default_mode())
    return fd, Path(name)


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_arrays(path: Path, arrays: dict[str, np.ndarray], durable: bool = True) -> None:
    """An .npz of `arrays`, never pickled objects (np.savez of plain arrays)."""
    with atomic_open(path, "wb", durable=durable) as f:
        np.savez(f, **arrays)
