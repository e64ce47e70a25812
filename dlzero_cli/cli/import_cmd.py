"""`dlzero import book`: turn the book's pretrained parameters into a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import RUNS_DIR_OPTION, handles_errors, runs_dir_or_default, stdout

import_app = typer.Typer(
    help="Create a run folder from weights trained elsewhere.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


@import_app.command("book")
@handles_errors
def import_book_command(
    weights: Path = typer.Argument(..., help="A pickle of the book's parameters (W1, b1, ...)."),
    config: str = typer.Option(
        ..., "--config", "-c", help="A config (file or shipped name) whose layers match them."
    ),
    name: str = typer.Option(None, "--name", help="Run folder name [default: the config's]."),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """Import the book's pickled parameters (W1, b1, W2, ...) onto a config's layers.

    The k-th layer with parameters receives W{k} and b{k}; every shape is checked. The
    pickle is read with a restricted unpickler that builds NumPy arrays and nothing else.

    ```
    dlzero import book ../shared/data/book/ch03_sample_weight.pkl -c book-ch03-sample-weight
    dlzero eval latest --dataset mnist --split test
    ```
    """
    from dlzero_cli.runs.importing import import_book

    folder = import_book(weights, config, runs_dir_or_default(runs_dir), name)
    stdout.print(f"imported {weights} -> run folder: {folder.path}")
