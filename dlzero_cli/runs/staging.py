"""How a run folder comes to be, and who holds it: partial folders, the training lock,
and whether a process is still alive.

A run is set up in a hidden partial folder `.<TIME-NAME>.<PID>-<random>.partial` and
renamed to its real name only when it can be resumed (`publish`); a sweep's trial lands
the same way, under the exact name it is given. A partial folder holds its lock (an
flock on its `.lock`, which records the holder's PID, host and start time) from the
moment it has that name until it is published or removed: it is first made as
`.<...>.setup`, locked, and only then renamed to `.partial`. So a partial folder whose
lock can be taken is stale (its process is gone, however it ended), and the next one
set up in the same folder removes it; a `.setup` folder (a process killed in the
instant before its lock) is judged by its PID. The kernel releases an flock when its
process ends, so a lock is never left behind. The lock follows a folder through the
rename (the file stays open) and is the run's training lock from then on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from dlzero_cli.atomic import fsync_dir
from dlzero_cli.errors import RunError, RunLocked

try:
    import fcntl
except ImportError:  # not on Linux or macOS: no lock
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
PARTIAL_SUFFIX = ".partial"
SETUP_SUFFIX = ".setup"
# What a run folder's name may hold besides its timestamp: the config's name rules, again
# here, so that no name can reach outside the runs folder whatever the config allowed.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PID_IN_NAME = re.compile(r"\.(\d+)-[^.]*\.(partial|setup)$")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def folder_base(name: str, now: datetime | None = None) -> str:
    """`<UTC timestamp>-<name>`; RunError for a name that is not one plain folder name
    (a `/`, `..`, a space, an absolute path): nothing may land outside the runs folder."""
    if not _SAFE_NAME.fullmatch(name):  # one component: no "/", never "." or ".."
        raise RunError(
            f"run name {name!r}: use letters, digits and . _ - only "
            "(no '/', '..' or spaces): it names a folder inside the runs folder"
        )
    return f"{(now or utc_now()).strftime('%Y%m%dT%H%M%SZ')}-{name}"


def make_runs_dir(runs_dir: Path) -> None:
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{runs_dir}: cannot create the runs folder: {exc.strerror}") from None


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- liveness


def process_alive(pid: int, host: str) -> bool:
    """Whether process `pid` on `host` may still be running: a process on another host,
    or one that exists but is someone else's, counts as alive (a reused PID errs on the
    side of alive)."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def holder_gone(folder: Path) -> bool:
    """Whether the process that holds (or held) `folder`'s lock is gone, read from the
    lock file's holder, never by taking the lock: probing with flock would make a
    `train --resume` starting at that instant fail. No readable holder: gone."""
    try:
        holder = json.loads((folder / LOCK_FILE).read_text(encoding="utf-8"))
        pid, host = int(holder["pid"]), str(holder["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return True
    return not process_alive(pid, host)


# --------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def held_lock(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock while the block runs; RunLocked (one line, with the holder's
    PID) when another process holds it. A lock left by a killed process is taken over."""
    if fcntl is None:
        yield
        return
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
    except OSError as exc:
        raise RunError(f"{path}: cannot take the training lock: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(_locked_message(folder, fd)) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now().isoformat()}
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _locked_message(path: Path, fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode())
        who = f"process {holder['pid']} on {holder['host']} (since {holder['since']})"
        pid = holder["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        who, pid = "another process", None
    stop = f"; stop it with `kill {pid}`" if pid is not None else ""
    return f"{path}: being trained by {who}; wait for it to finish{stop}"


def _lock_is_free(folder: Path) -> bool | None:
    """Whether nobody holds `folder`'s lock (tried, and let go at once); None when it
    has no lock file to try."""
    if fcntl is None:
        return None
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


# --------------------------------------------------------------------------- partial folders


def is_partial(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX)


@contextlib.contextmanager
def partial_folder(parent: Path, base: str) -> Iterator[Path]:
    """A hidden partial folder in `parent` for the folder `base`, locked while the block
    runs and removed after it unless `publish` renamed it to its real name. Stale
    partial folders in `parent` are removed first."""
    make_runs_dir(parent)
    remove_stale_partials(parent)
    try:
        setup = Path(
            tempfile.mkdtemp(prefix=f".{base}.{os.getpid()}-", suffix=SETUP_SUFFIX, dir=parent)
        )
    except OSError as exc:
        raise RunError(f"{parent}: cannot create a run folder: {exc.strerror}") from None
    path = setup.with_name(setup.name[: -len(SETUP_SUFFIX)] + PARTIAL_SUFFIX)
    made, identity = setup, None
    try:
        with held_lock(setup):
            try:
                os.chmod(setup, 0o777 & ~umask())
                os.rename(setup, path)  # the lock file moves with it, still held
                made, identity = path, path.stat().st_ino
            except OSError as exc:
                raise RunError(f"{parent}: cannot create a run folder: {exc.strerror}") from None
            yield path
    finally:
        # Remove it unless published (renamed away): never another's folder that took
        # the name since.
        with contextlib.suppress(OSError):
            if identity is None or made.stat().st_ino == identity:
                shutil.rmtree(made, ignore_errors=True)


def publish(partial: Path, exact: bool = False) -> Path | None:
    """Rename `partial` to its real name `<base>` (`-2`, `-3`, ... when taken; with
    `exact`, None when taken): the name is reserved with an atomic mkdir, the partial
    folder renamed onto it, and the parent folder synced so that the name survives a
    power cut."""
    base = partial.name[1 : -len(PARTIAL_SUFFIX)].rsplit(".", 1)[0]
    for attempt in range(1, 10_000):
        target = partial.parent / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            target.mkdir()
        except FileExistsError:
            if exact:
                return None
            continue
        except OSError as exc:
            raise RunError(f"{target}: cannot create the run folder: {exc.strerror}") from None
        try:
            os.rename(partial, target)  # onto the empty folder just made: ours
        except BaseException as exc:
            with contextlib.suppress(OSError):
                target.rmdir()
            if isinstance(exc, OSError):
                raise RunError(f"{target}: cannot create the run folder: {exc.strerror}") from None
            raise
        with contextlib.suppress(OSError):
            fsync_dir(partial.parent)
        return target
    raise RunError(f"{partial.parent}: too many runs named {base!r} in one second")


def remove_stale_partials(parent: Path) -> None:
    """Remove the partial folders in `parent` whose lock can be taken (their process is
    gone), and `.setup` folders (or lock-less partial folders of an older dlzero) whose
    PID is gone; those of live processes (runs starting now) are left alone."""
    for path in [*parent.glob(f".*{PARTIAL_SUFFIX}"), *parent.glob(f".*{SETUP_SUFFIX}")]:
        free = _lock_is_free(path) if path.name.endswith(PARTIAL_SUFFIX) else None
        if free is None:
            match = _PID_IN_NAME.search(path.name)
            free = match is not None and not process_alive(
                int(match.group(1)), socket.gethostname()
            )
        if free:
            shutil.rmtree(path, ignore_errors=True)
