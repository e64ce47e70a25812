"""`dlzero compare`: runs side by side; config differences, metrics, curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import RUNS_DIR_OPTION, handles_errors, runs_dir_or_default, stdout

if TYPE_CHECKING:
    from dlzero_cli.runs.compare import Comparison

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40


@app.command("compare")
@handles_errors
def compare_command(
    runs: list[str] = typer.Argument(..., help="Two or more run folders, names or `latest`."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Folder for the PNG of the curves [default: the first run's runs folder].",
        show_default=False,
    ),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """Compare runs: the config keys that differ (dotted paths, as --set takes them), the
    final and test metrics side by side, each run's validation accuracy per epoch as a
    line of blocks, and compare-RUNS.png overlaying their loss and accuracy curves.

    ```
    dlzero compare 20261129T080000Z-digits-a 20261129T081500Z-digits-b
    dlzero compare runs/A runs/B runs/C --out figures/
    dlzero compare A B --json
    ```
    """
    from dlzero_cli.runs.compare import compare_runs
    from dlzero_cli.runs.folder import RunFolder

    folder = runs_dir_or_default(runs_dir)
    folders = [RunFolder.find(run, folder, need_weights=False) for run in runs]
    comparison = compare_runs(folders, out)
    if as_json:
        print(json.dumps(comparison.to_json()))
        return
    _print_comparison(comparison)


def _cell(value: Any) -> str:
    from dlzero_cli.runs.compare import ABSENT

    if value is ABSENT:
        return "(absent)"
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else value
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def sparkline(values: list[float], low: float, high: float, width: int = SPARK_WIDTH) -> str:
    """Values as blocks from ▁ (low) to █ (high), at most `width` of them (evenly picked
    epochs, the last always among them)."""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    span = high - low
    top = len(SPARK) - 1
    return "".join(
        SPARK[0 if span <= 0 else min(top, max(0, round((v - low) / span * top)))] for v in values
    )


def _print_comparison(comparison: Comparison) -> None:
    from dlzero_cli.cli.tables import plain_table, table

    names = [row.run for row in comparison.runs]
    right: set[int] = set()  # values are numbers and words alike: all left-aligned

    def show(headers: list[str], cells: list[list[str]], title: str) -> None:
        if stdout.is_terminal:
            stdout.print(table(headers, cells, right, title=title))
        else:
            print(f"{title}\n{plain_table(headers, cells, right)}\n")

    if comparison.differences:
        cells = [[d.key, *map(_cell, d.values)] for d in comparison.differences]
        show(["config key", *names], cells, "config keys that differ")
    else:
        print("config: the same in every run\n")
    cells = [[m.name, *map(_cell, m.values)] for m in comparison.metrics]
    show(["metric", *names], cells, "metrics")

    series = {c.run: [r.val_acc for r in c.records if r.val_acc is not None]
              for c in comparison.curves}  # fmt: skip
    every = [v for values in series.values() for v in values]
    low, high = (min(every), max(every)) if every else (0.0, 1.0)
    width = max(len(name) for name in names)
    stdout.print(f"validation accuracy per epoch ({low:.4f} to {high:.4f})", markup=False)
    for curve in comparison.curves:
        values = series[curve.run]
        if curve.note:
            line = curve.note
        elif not values:
            line = "no curve: no validation split (data.validation is 0)"
        else:
            line = f"{sparkline(values, low, high)}  {values[0]:.4f} -> {values[-1]:.4f}"
        stdout.print(f"  {curve.run:<{width}}  {line}", markup=False, soft_wrap=True)
    stdout.print(f"curves: {comparison.plot}", markup=False, soft_wrap=True)
