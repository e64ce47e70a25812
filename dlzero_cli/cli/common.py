"""What every command shares: consoles, the error boundary, shared options."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from dlzero_cli.errors import DlzeroError, DlzeroWarning

F = TypeVar("F", bound=Callable[..., Any])


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


def say_latest(folder: Any) -> None:
    """When `latest` skipped newer runs (no weights yet), say on stderr which run it chose
    and why (RunFolder.note); nothing otherwise."""
    note = getattr(folder, "note", None)
    if note:
        print(note, file=sys.stderr)


def report_error(message: str) -> None:
    """Each line of a DlzeroError as `error: ...` on stderr, unstyled and unwrapped."""
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def report_warning(message: str) -> None:
    """One `warning: ...` line on stderr, unstyled and unwrapped (the work went on)."""
    print(f"warning: {' '.join(message.split())}", file=sys.stderr)


def handles_errors(command: F) -> F:
    """Turn DlzeroError into its one-line message and exit code; nothing else is caught."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return showing_warnings(command, *args, **kwargs)
        except DlzeroError as exc:
            report_error(str(exc))
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def showing_warnings(command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `command`, showing each distinct DlzeroWarning it raises once, as one
    `warning: ...` line on stderr (Python's format would add a file, a line number and
    the source line)."""
    shown: set[str] = set()
    show_other = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, DlzeroWarning):
            show_other(message, category, filename, lineno, file, line)
        elif str(message) not in shown:
            shown.add(str(message))
            print(f"warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", DlzeroWarning)
        warnings.showwarning = show
        return command(*args, **kwargs)


def runs_dir_or_default(runs_dir: Path | None) -> Path:
    from dlzero_cli.runs.folder import default_runs_dir

    # `--runs-dir '~/runs'` (quoted, so no shell expanded it) means the home folder too.
    return runs_dir.expanduser() if runs_dir is not None else default_runs_dir()


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
