"""What every command shares: consoles, the error boundary, shared options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from dlzero_cli.errors import DlzeroError

F = TypeVar("F", bound=Callable[..., Any])

# Results go to stdout, errors and progress chatter to stderr.
stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)

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


def handles_errors(command: F) -> F:
    """Turn DlzeroError into its one-line message and exit code; nothing else is caught."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DlzeroError as exc:
            report_error(str(exc))
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def runs_dir_or_default(runs_dir: Path | None) -> Path:
    from dlzero_cli.runs.folder import default_runs_dir

    return runs_dir if runs_dir is not None else default_runs_dir()


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
