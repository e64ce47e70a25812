"""`dlzero check`: a dry run of a config: data, layers, memory and time, no run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import DATA_DIR_OPTION, RUNS_DIR_OPTION, handles_errors, stdout
from dlzero_cli.cli.targets import CONFIG_OR_RUN_HELP


@app.command("check")
@handles_errors
def check_command(
    config: str = typer.Argument(None, help=CONFIG_OR_RUN_HELP, show_default=False),
    set_: list[str] = typer.Option([], "--set", help="Override a config value (repeatable)."),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="BLAS threads to time the steps with, as `dlzero train --threads` "
        "[default: as the BLAS library chooses].",
        show_default=False,
    ),
) -> None:
    """Check a config before training it: validate it (exit 2 with every problem), say
    whether its dataset is on disk, print the layer table, estimate peak memory, and
    time a few real training steps to estimate the time per epoch and for the run.

    Nothing is written. `dlzero summary` is the quick variant: the layer table alone,
    without data or timing.

    ```
    dlzero check
    dlzero check mnist-784-50-100-10 --data-dir ~/datasets
    dlzero check ch4-numerical-gradient --set train.epochs=50
    dlzero check latest
    ```
    """
    from dlzero_cli.cli.tables import network_table, plain_table
    from dlzero_cli.cli.targets import load_config_or_run
    from dlzero_cli.runs.planning import dry_run

    loaded = load_config_or_run(config, set_, runs_dir)
    result = dry_run(loaded, data_dir, threads)
    summary = result.summary
    stdout.print(f"config: {loaded.source.path}: valid")
    dataset = loaded.config.data.dataset
    if result.data_present:
        stdout.print(f"dataset: {dataset} is on disk")
    else:
        stdout.print(
            f"dataset: {dataset} is not on disk; get it with: {result.download_command}",
            soft_wrap=True,
        )
    stdout.print(
        network_table(summary.layers, summary.input_shape, summary.batch_size, summary.title)
    )
    rows = [[part.name, _size(part.bytes)] for part in result.memory]
    rows.append(["peak, about", _size(result.peak_bytes)])
    stdout.print("memory:")
    stdout.print(plain_table(["part", "size"], rows, right=[1]), markup=False)
    stdout.print(
        f"(one training step allocated {_size(result.measured_step_bytes)} at its peak, "
        "measured, including layer caches)"
    )
    stdout.print(f"the dataset (uint8 pixels, int64 labels): {_size(result.dataset_bytes)} besides")
    samples = result.samples
    stdout.print(
        f"samples: {samples['train']:,} train / {samples['val']:,} validation / "
        f"{samples['test']:,} test"
    )
    plan = result.numerical
    if plan is not None:
        stdout.print(
            f"numerical gradients: {plan.passes_per_step:,} forward passes per step "
            f"({plan.seconds_per_pass * 1e3:.2f} ms each); limit "
            f"{plan.limit_seconds:g} s per epoch"
            + (" (exceeded: `dlzero train` will refuse)" if plan.too_slow else ""),
            soft_wrap=True,
        )
    stdout.print(
        f"time: {result.step_seconds * 1e3:.2f} ms per step (timed on {result.timed_on}) x "
        f"{result.steps_per_epoch:,} steps + validation {result.eval_seconds:.2f} s = "
        f"about {_duration(result.epoch_seconds)} per epoch, "
        f"{_duration(result.run_seconds)} for {result.epochs} epochs",
        soft_wrap=True,
    )


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB"):
        if count < 1024:
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.2f} GB"


def _duration(seconds: float) -> str:
    from dlzero_cli.cli.tables import duration

    if seconds < 0.01:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else duration(seconds)
