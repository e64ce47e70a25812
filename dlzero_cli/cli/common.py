"""What every command shares: consoles, the error boundary, shared options."""

from __future__ import annotations

import errno
import functools
import os
import sys
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions

from dlzero_cli.cli.usage import INTERRUPT_EXIT
from dlzero_cli.errors import DlzeroError, DlzeroWarning, UsageError

F = TypeVar("F", bound=Callable[..., Any])


PIPED_WIDTH = 10_000


class _Console(Console):
    """A rich Console that, piped or redirected, never breaks or crops a printed line:
    output read by programs and pasted keeps each path whole and a table's title on one
    line. Tables still fit the width ($COLUMNS, else 80) where they can. Decided at each
    print, since the stream may be replaced (tests capture it)."""

    @property
    def soft_wrap(self) -> bool:  # type: ignore[override]
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:  # Console.__init__ sets it; we decide
        pass

    @property
    def size(self) -> ConsoleDimensions:  # type: ignore[override]
        # Piped, a table takes the width its cells need: a cell never wraps or is cut
        # to fit a screen nobody is looking at (a path split over two rows, `prec...`).
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


# Results go to stdout, errors and progress chatter to stderr.
stdout = _Console(highlight=False)
stderr = _Console(stderr=True, highlight=False)

RUNS_DIR_OPTION = typer.Option(
    None,
    "--runs-dir",
    help="Folder holding the runs [default: $DLZERO_RUNS_DIR or ./runs].",
    show_default=False,
)

DATA_DIR_OPTION = typer.Option(
    None,
    "--data-dir",
    help="Folder holding downloaded datasets [default: $DLZERO_DATA_DIR or ./data].",
    show_default=False,
)


# The lines a command prints that are neither its results nor its errors. One rule for
# the prefix (the README's "Errors and exit codes"): `warning:` for something that may be
# wrong (the work went on), `note:` for information.
NOTICE_KINDS = ("warning", "note")

# The lines already printed by the command running now: each prints once per command.
_printed: ContextVar[set[str] | None] = ContextVar("dlzero_printed_notices", default=None)


def report_warning(message: str, kind: str = "warning") -> None:
    """The one way the CLI prints a warning or a note: `warning: ...` (or `note: ...`)
    as one unstyled, unwrapped line on stderr, each distinct line once per command.

    The rest of dlzero never prints them: it raises a DlzeroWarning (shown through here
    by `handles_errors`) or returns the line as data for its command to pass here."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"kind {kind!r}: one of {NOTICE_KINDS}")
    line = f"{kind}: {' '.join(message.split())}"
    printed = _printed.get()
    if printed is not None:
        if line in printed:
            return
        printed.add(line)
    print(line, file=sys.stderr, flush=True)


def report_note(message: str) -> None:
    """`note: ...` through `report_warning`: information, nothing wrong."""
    report_warning(message, kind="note")


def say_latest(folder: Any) -> None:
    """When `latest` skipped newer runs (no weights yet), a note on stderr saying which
    run it chose and why (RunFolder.note); nothing otherwise."""
    note = getattr(folder, "note", None)
    if note:
        report_note(note)


def report_error(message: str) -> None:
    """Each line of a DlzeroError as `error: ...` on stderr, unstyled and unwrapped."""
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def handles_errors(command: F) -> F:
    """Turn DlzeroError into its one-line message and exit code; nothing else is caught.
    DlzeroWarnings raised meanwhile are shown by `report_warning`, each line once."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _printed.set(set())
        try:
            result = showing_warnings(command, *args, **kwargs)
            sys.stdout.flush()  # a closed or full stdout fails here, not at exit
            return result
        except DlzeroError as exc:
            report_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            # Ctrl-C in a command that has no Ctrl-C handling of its own (train has):
            # files are written atomically, so nothing half-written is left.
            print("interrupted", file=sys.stderr)
            raise typer.Exit(INTERRUPT_EXIT) from None
        except BrokenPipeError:
            # The reader went away (`dlzero runs | head -1`): stop quietly, as Unix tools do,
            # and keep Python from complaining about stdout again at exit.
            _silence_stdout()
            raise typer.Exit(1) from None
        except OSError as exc:
            if exc.filename is not None or exc.errno not in OUTPUT_ERRNOS:
                raise  # not the output's: a bug, shown whole
            report_error(f"cannot write the output: {exc.strerror or exc}")  # e.g. > /dev/full
            _silence_stdout()
            raise typer.Exit(1) from None
        finally:
            _printed.reset(token)

    return wrapper  # type: ignore[return-value]


# What writing to stdout raises when it cannot take more (`> /dev/full`, a dead terminal).
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EBADF}


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass


def showing_warnings(command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `command`, showing each DlzeroWarning it raises through `report_warning`
    (Python's format would add a file, a line number and the source line); other
    warnings as Python shows them."""
    show_other = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, DlzeroWarning):
            report_warning(str(message))
        else:
            show_other(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", DlzeroWarning)
        warnings.showwarning = show
        return command(*args, **kwargs)


def typed_name(registry: Any, name: str, option: str | None = None) -> str:
    """`name` as typed on the command line, when `registry` has it; else a UsageError
    (exit 2: a bad command line) with the choices and the closest one. Only the CLI
    decides that a name is the user's typing: a registry miss inside, on a name read
    from a run's files, is a failure while working (exit 1)."""
    if name not in registry:
        message = registry.unknown_message(name)
        raise UsageError(f"{option}: {message}" if option else message)
    return name


def runs_dir_or_default(runs_dir: Path | None) -> Path:
    from dlzero_cli.runs.folder import default_runs_dir

    # `--runs-dir '~/runs'` (quoted, so no shell expanded it) means the home folder too.
    return runs_dir.expanduser() if runs_dir is not None else default_runs_dir()


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
