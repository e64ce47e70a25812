"""`dlzero eval`: loss, accuracy and per-class metrics of a trained run."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    fmt,
    handles_errors,
    report_warning,
    runs_dir_or_default,
    say_latest,
    stdout,
    typed_name,
)

if TYPE_CHECKING:
    from dlzero_cli.runs.documents import EvalReport


class Split(str, Enum):
    test = "test"
    val = "val"
    train = "train"


@app.command("eval")
@handles_errors
def eval_command(
    run: str = typer.Argument(..., help="A run folder, or `latest` for the newest run."),
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="Evaluate on another dataset with the same input shape and classes "
        "[default: the run's].",
        show_default=False,
    ),
    split: Split = typer.Option(
        Split.test, "--split", case_sensitive=False, help="Which split of the dataset."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    batch_size: int = typer.Option(
        None,
        "--batch-size",
        min=1,
        help="Samples per forward pass [default: the run's].",
        show_default=False,
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Evaluate a class-stratified subset of N samples."
    ),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Evaluate a trained run: loss, accuracy, top-3, per-class metrics, confusion matrix.

    Writes `eval-DATASET-SPLIT.json`, `confusion-DATASET-SPLIT.png` and
    `misclassified-DATASET-SPLIT.png` (the most confident mistakes) into the run folder;
    with `--limit N`, `eval-DATASET-SPLIT-limitN.json` and so on, so the full
    evaluation's files stay. When they cannot be written (a full disk, a read-only
    folder) the results are still printed, with a warning naming what was not written.

    Examples:

    ```
    dlzero eval latest
    dlzero eval latest --dataset mnist --split test
    dlzero eval runs/20261129T080000Z-xor-2-4-1 --split train
    dlzero eval latest --json > result.json
    dlzero eval latest --limit 500
    ```
    """
    from dlzero_cli.cli.progress import eval_progress
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.runs.reports import evaluate_run

    if dataset is not None:
        from dlzero_cli.data.catalog import DATASETS

        typed_name(DATASETS, dataset, "--dataset")
    folder = RunFolder.find(run, runs_dir_or_default(runs_dir))
    say_latest(folder)
    with eval_progress() as progress:
        outcome = evaluate_run(
            folder, split.value, batch_size, data_dir, limit, dataset, progress=progress
        )
    report = outcome.report
    if as_json:
        data = report.to_json()
        if outcome.not_written:
            data["not_written"] = {str(path): why for path, why in outcome.not_written.items()}
        print(json.dumps(data))
    else:
        _print_report(report, set(outcome.not_written))
    if outcome.not_written:
        lines = "; ".join(outcome.not_written_lines())
        report_warning(f"the results above are complete, but not saved: {lines}")


def _print_report(report: EvalReport, not_written: set[Path]) -> None:
    from rich.table import Table

    stdout.print(f"{report.run}\n{report.dataset} {report.split} split, {report.samples:,} samples")
    stdout.print(
        f"loss {fmt(report.loss)}  accuracy {fmt(report.accuracy)}  "
        f"top-{report.top_k} accuracy {fmt(report.top_k_accuracy)}"
    )
    table = Table(show_header=True, header_style="bold", title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in report.per_class:
        table.add_row(row.name, fmt(row.precision), fmt(row.recall), fmt(row.f1), str(row.support))
    stdout.print(table)
    names = report.class_names
    confusion = Table(
        show_header=True, header_style="bold", title="confusion (rows: true, columns: predicted)",
        title_justify="left",
    )  # fmt: skip
    confusion.add_column("true \\ pred")
    for index in range(len(names)):
        confusion.add_column(str(index), justify="right")
    for index, (name, row) in enumerate(zip(names, report.confusion, strict=True)):
        cells = [
            f"[bold green]{n}[/]" if i == index else (f"[red]{n}[/]" if n else "[dim]0[/]")
            for i, n in enumerate(row)
        ]
        label = str(index) if name == str(index) else f"{index} {name}"
        confusion.add_row(label, *cells)
    stdout.print(confusion)
    for kind, path in report.files.as_dict().items():
        if Path(path) not in not_written:
            stdout.print(f"{kind}: {path}", soft_wrap=True)
