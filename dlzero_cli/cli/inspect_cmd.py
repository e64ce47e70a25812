"""`dlzero inspect`: a run's diagnostics per layer, and plain warnings from them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import RUNS_DIR_OPTION, handles_errors, runs_dir_or_default, stdout

OUTPUT_METRICS = ("mean", "std", "saturated", "zero", "dead_units")
PARAM_METRICS = ("weight_norm", "grad_norm", "grad_ratio", "update_ratio")


@app.command("inspect")
@handles_errors
def inspect_command(
    run: str = typer.Argument(..., help="A run folder, or `latest` for the newest run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """How each layer of a trained run fares, from its diagnostics.csv: activation mean
    and spread, saturated sigmoid/tanh outputs, ReLU units that never fire, weight and
    gradient norms; then warnings a learner can act on (or "no warnings").

    Reads files only: instant, and it works on interrupted runs too.

    ```
    dlzero inspect latest
    dlzero inspect runs/20261130T101500Z-ch6-init-std --json
    ```
    """
    from dlzero_cli.diagnostics import last_epoch, layer_reports, warnings
    from dlzero_cli.runs.folder import RunFolder

    folder = RunFolder.find(run, runs_dir_or_default(runs_dir), need_weights=False)
    rows = folder.read_diagnostics()
    if not rows:
        from dlzero_cli.errors import RunError

        raise RunError(f"{folder.diagnostics_path}: no epoch measured yet (none completed)")
    reports = layer_reports(rows)
    advice = warnings(rows)
    epoch = last_epoch(rows)
    if as_json:
        document = {
            "run": str(folder.path),
            "epoch": epoch,
            "layers": [
                {"layer": r.layer, "kind": r.kind, **_finite(r.metrics),
                 "params": {k: _finite(v) for k, v in r.params.items()}}
                for r in reports
            ],
            "warnings": advice,
        }  # fmt: skip
        typer.echo(json.dumps(document, indent=2))
        return
    from dlzero_cli.cli.tables import table

    stdout.print(
        f"{folder.name}: epoch {epoch}, layer outputs on the diagnostic batch", soft_wrap=True
    )
    layer_rows = [
        [str(r.layer), r.kind, *(_cell(r.metrics.get(m), m) for m in OUTPUT_METRICS)]
        for r in reports
    ]
    headers = ["#", "layer", "mean", "std", "saturated", "zero", "dead units"]
    stdout.print(table(headers, layer_rows, right=range(2, 7)))
    param_rows = [
        [label, str(r.layer), *(_cell(p.get(m), m) for m in PARAM_METRICS)]
        for r in reports
        for label, p in r.params.items()
    ]
    if param_rows:
        headers = ["param", "#", "|W|", "|grad|", "|grad|/|W|", "|update|/|W|"]
        stdout.print("parameters at the epoch's last step")
        stdout.print(table(headers, param_rows, right=range(1, 6)))
    if not advice:
        stdout.print("no warnings: no layer saturated, dead, vanished or stalled")
    for line in advice:
        stdout.print(f"warning: {line}", soft_wrap=True, markup=False)


def _cell(value: float | None, metric: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if metric in ("saturated", "zero", "dead_units"):
        return f"{value:.0%}"
    if metric.endswith("_ratio"):
        return f"{value:.1e}"
    return f"{value:.4g}"


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN or infinity: a ratio without meaning is null."""
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
