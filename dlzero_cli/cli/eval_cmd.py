"""`dlzero eval`: loss, accuracy and per-class metrics of a trained run."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    fmt,
    handles_errors,
    runs_dir_or_default,
    stdout,
)


class Split(str, Enum):
    test = "test"
    val = "val"
    train = "train"


@app.command("eval")
@handles_errors
def eval_command(
    run: str = typer.Argument(..., help="A run folder, or `latest` for the newest run."),
    split: Split = typer.Option(Split.test, "--split", help="Which split of the run's dataset."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Samples per forward pass."),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Evaluate a class-stratified subset of N samples."
    ),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Evaluate a trained run on its dataset; also writes eval.json into the run folder.

    Examples:

    ```
    dlzero eval latest
    dlzero eval runs/20261129T080000Z-xor-2-4-1 --split train
    dlzero eval latest --json > result.json
    ```
    """
    from dlzero_cli.experiment import evaluate_run
    from dlzero_cli.runs import resolve_run

    run_dir = resolve_run(run, runs_dir_or_default(runs_dir))
    report = evaluate_run(run_dir, split.value, batch_size, data_dir, limit)
    if as_json:
        print(json.dumps(report))
        return
    _print_report(report)


def _print_report(report: dict) -> None:
    from rich.table import Table

    stdout.print(
        f"{report['run']}  {report['dataset']} {report['split']} split, {report['samples']} samples"
    )
    stdout.print(f"loss {fmt(report['loss'])}  accuracy {fmt(report['accuracy'])}")
    table = Table(show_header=True, header_style="bold")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in report["per_class"]:
        table.add_row(
            row["name"],
            fmt(row["precision"]),
            fmt(row["recall"]),
            fmt(row["f1"]),
            str(row["support"]),
        )
    stdout.print(table)
