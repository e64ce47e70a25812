"""`dlzero predict`: classify inputs with a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    RUNS_DIR_OPTION,
    handles_errors,
    report_error,
    runs_dir_or_default,
    stdout,
)


@app.command("predict")
@handles_errors
def predict_command(
    run: str = typer.Argument(..., help="A run folder, or `latest` for the newest run."),
    inputs: list[str] = typer.Argument(
        ..., help="`.npy` files (one sample or a batch), `.csv` files, or rows like 1,0."
    ),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="How many classes to show."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list and nothing else."),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """Predict the class of each input, in the dataset's raw scale (digits: 0..16).

    Examples:

    ```
    dlzero predict latest 1,0 0,1       # rows of numbers (an xor run)
    dlzero predict latest batch.npy -k 5   # one sample or a batch (N, 64)
    dlzero predict latest rows.csv --json
    ```
    """
    from dlzero_cli.experiment import predict_inputs
    from dlzero_cli.runs import resolve_run

    run_dir = resolve_run(run, runs_dir_or_default(runs_dir))
    predictions, errors = predict_inputs(run_dir, inputs, top_k)
    if as_json:
        print(json.dumps([p.as_dict() for p in predictions]))
    else:
        _print_predictions(predictions)
    for line in errors:
        report_error(line)
    if errors:
        raise typer.Exit(1)


def _print_predictions(predictions) -> None:
    from rich.table import Table

    if not predictions:
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("input")
    table.add_column("class", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("top-k")
    for p in predictions:
        ranked = ", ".join(f"{r['name']} {r['probability']:.3f}" for r in p.top_k)
        table.add_row(p.input, p.name, f"{p.probability:.4f}", ranked)
    stdout.print(table)
