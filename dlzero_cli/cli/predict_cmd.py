"""`dlzero predict`: classify inputs with a trained run."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    RUNS_DIR_OPTION,
    handles_errors,
    report_error,
    report_warning,
    runs_dir_or_default,
    say_latest,
    stdout,
)

if TYPE_CHECKING:
    from dlzero_cli.runs.reports import Prediction


class Invert(str, Enum):
    auto = "auto"
    yes = "yes"
    no = "no"


@app.command("predict")
@handles_errors
def predict_command(
    run: str = typer.Argument(..., help="A run folder, or `latest` for the newest run."),
    inputs: list[str] = typer.Argument(
        ...,
        help="Images (PNG, JPEG, BMP, GIF), folders of them, .npy arrays, IDX files, .csv "
        "rows, rows like 1,0, or - for a .npy array or an image on stdin.",
    ),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="How many classes to show."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list and nothing else."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV rows and nothing else."),
    invert: Invert = typer.Option(
        Invert.auto,
        "--invert",
        case_sensitive=False,
        help="Images: make dark-on-light ink light-on-dark (auto: when the border is light).",
    ),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """Predict the class of each input: images, arrays in the dataset's raw scale, rows.

    Images are prepared the way the model's dataset was made: grayscale, inverted when
    the background is light, cropped to the ink, fitted to 20x20 and centred by mass
    in 28x28 for MNIST-shaped models (the digits set's 32x32 -> 8x8 for 8x8 models).

    Examples:

    ```
    dlzero predict latest 1,0 0,1       # rows of numbers (an xor run)
    dlzero predict latest batch.npy -k 5   # one sample or a batch (N, 64)
    dlzero predict latest rows.csv --json
    dlzero predict latest my-digit.png photos/ --top-k 1
    cat digit.jpg | dlzero predict latest -
    ```
    """
    from dlzero_cli.errors import UsageError
    from dlzero_cli.inputs import read_stdin
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.runs.reports import predict_inputs

    if as_json and as_csv:
        raise UsageError("--json and --csv: choose one output format")
    folder = RunFolder.find(run, runs_dir_or_default(runs_dir))
    say_latest(folder)
    stdin = read_stdin(sys.stdin.buffer) if "-" in inputs else None
    predictions, problems = predict_inputs(folder, inputs, top_k, invert.value, stdin)
    if as_json:
        print(json.dumps([p.as_dict() for p in predictions]))
    elif as_csv:
        _write_csv(predictions)
    else:
        _print_predictions(predictions)
    for problem in problems:
        if problem.is_warning:
            report_warning(problem.line)
        else:
            report_error(problem.line)
    # 2 when something typed was malformed, 1 when a file could not be used, else 0.
    code = max((problem.exit_code for problem in problems), default=0)
    if code:
        raise typer.Exit(code)


def _write_csv(predictions: list[Prediction]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["input", "label", "name", "probability", "top_k"])
    for p in predictions:
        ranked = ";".join(f"{r.label}:{r.probability:.6f}" for r in p.top_k)
        writer.writerow([p.input, p.label, p.name, f"{p.probability:.6f}", ranked])


def _print_predictions(predictions: list[Prediction]) -> None:
    from rich.table import Table

    if not predictions:
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("input")
    table.add_column("class", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("top-k")
    for p in predictions:
        ranked = ", ".join(f"{r.name} {r.probability:.3f}" for r in p.top_k)
        table.add_row(p.input, p.name, f"{p.probability:.4f}", ranked)
    stdout.print(table)
