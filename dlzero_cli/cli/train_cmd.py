"""`dlzero train`: train a network from a YAML config into a new run folder."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    fmt,
    handles_errors,
    report_note,
    runs_dir_or_default,
    say_latest,
    stderr,
    stdout,
)
from dlzero_cli.cli.usage import INTERRUPT_EXIT

if TYPE_CHECKING:
    from dlzero_cli.runs.lifecycle import TrainResult


@app.command("train")
@handles_errors
def train_command(
    config: str = typer.Argument(
        None,
        help="A YAML config file, or the name of a shipped config (see `dlzero configs`). "
        "[default: digits-64-50-100-10]",
        show_default=False,
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config value: --set train.optimizer.lr=0.05 (repeatable)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Shortcut for --set train.epochs=N."),
    seed: int = typer.Option(None, "--seed", help="Shortcut for --set seed=N."),
    name: str = typer.Option(
        None, "--name", help="Shortcut for --set name=NAME (run folder name)."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Shortcut for --set data.limit=N: train on N samples."
    ),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
    download: bool = typer.Option(
        False, "--download", help="Download the config's dataset first if it is missing."
    ),
    resume: str = typer.Option(
        None,
        "--resume",
        help="Continue an interrupted run (a run folder or `latest`) from its checkpoint.",
    ),
    restart: bool = typer.Option(
        False,
        "--restart",
        help="With --resume: train the run again from epoch 1 in its folder (needed when "
        "its checkpoint is gone; otherwise resuming refuses).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final results."),
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="BLAS threads to train with (recorded in the run's manifest; the last bits of "
        "the results depend on it) [default: as the BLAS library chooses; on --resume, "
        "the run's recorded --threads].",
        show_default=False,
    ),
) -> None:
    """Train a network from a YAML config into a new run folder `runs/TIME-NAME/`.

    Examples:

    ```
    dlzero train              # the default config on the embedded digits
    dlzero train xor-2-4-1    # a shipped config, by name
    dlzero train my.yaml --set train.optimizer.lr=0.05 --epochs 20
    dlzero train --seed 1 --runs-dir /tmp/runs --quiet
    dlzero train mnist-784-50-100-10 --limit 1000 --epochs 1 --download
    dlzero train --resume latest         # after Ctrl-C, SIGTERM or a crash
    dlzero train --resume RUN --restart  # its checkpoint is gone: from epoch 1 again
    dlzero train --threads 1             # one BLAS thread: reproducible on any machine
    dlzero train ch4-numerical-gradient  # chapter 4: gradients by central differences
    ```

    Every run records diagnostics.csv and activations.png (see `dlzero inspect`);
    `dlzero check CONFIG` estimates memory and time first.
    """
    from dlzero_cli.config import load_config
    from dlzero_cli.config.source import Override
    from dlzero_cli.errors import UsageError
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.runs.lifecycle import resume_run, train_from_config

    overrides: list[str | Override] = list(set_)
    shortcuts = {
        "--epochs": ("train.epochs", epochs),
        "--seed": ("seed", seed),
        "--name": ("name", name),
        "--limit": ("data.limit", limit),
    }
    overrides += [  # blamed on the option as typed, not on a --set nobody wrote
        Override.from_option(option, key, value)
        for option, (key, value) in shortcuts.items()
        if value is not None
    ]
    if restart and resume is None:
        raise UsageError("--restart starts a run over in its folder: give it with --resume RUN")
    if resume is not None:
        if config is not None or overrides or download:
            raise UsageError(
                "--resume continues a run exactly as it was configured; give no CONFIG, "
                "--set, --epochs, --seed, --name, --limit or --download with it"
            )
        folder = RunFolder.find(
            resume, runs_dir_or_default(runs_dir), need_weights=False, resumable=True
        )
        say_latest(folder)
        batch = folder.read_config().config.train.batch_size
        _run(
            lambda callbacks: resume_run(
                folder, callbacks, data_dir, threads, restart, note=report_note
            ),
            quiet,
            batch,
        )
        return
    loaded = load_config(config, overrides)
    if download:
        from dlzero_cli.cli.download_progress import make_download_events
        from dlzero_cli.data.remote import download_missing

        events = make_download_events()
        try:
            download_missing(loaded.config.data.dataset, data_dir, events)
        finally:
            events.close()
    if loaded.config.train.gradient == "numerical":
        _announce_numerical(loaded, data_dir, quiet, threads)
    runs = runs_dir_or_default(runs_dir)
    _run(
        lambda callbacks: train_from_config(loaded, runs, callbacks, data_dir, threads),
        quiet,
        loaded.config.train.batch_size,
    )


def _announce_numerical(loaded, data_dir: Path | None, quiet: bool, threads: int | None) -> None:
    """What a numerical step costs, before training (refused here when too slow)."""
    from dlzero_cli.runs.planning import plan_numerical, refuse_slow_numerical
    from dlzero_cli.runs.splits import load_splits
    from dlzero_cli.runs.threads import blas_threads

    with blas_threads(threads):
        plan = plan_numerical(loaded, load_splits(loaded, data_dir, ("train",)))
    refuse_slow_numerical(plan)
    if not quiet:
        report_note(
            f"numerical gradients: 2 x {plan.parameters:,} parameters + 1 = "
            f"{plan.passes_per_step:,} forward passes per step "
            f"({plan.seconds_per_pass * 1e3:.2f} ms each), about "
            f"{plan.epoch_seconds:.1f} s per epoch of {plan.steps_per_epoch} steps "
            f"(limit {plan.limit_seconds:g} s: train.numerical_limit_seconds)"
        )


def _run(job, quiet: bool, batch: int) -> None:
    """Run a training job with its display, SIGTERM as Ctrl-C, and the final table."""
    from dlzero_cli.cli.progress import make_display
    from dlzero_cli.runs.lifecycle import RunInterrupted

    display = make_display(quiet, batch)
    with _stop_on_sigterm():
        try:
            result = job(display)
        except RunInterrupted as exc:
            _report_interrupt(exc)
            raise typer.Exit(INTERRUPT_EXIT) from None
        except KeyboardInterrupt:  # setting up (a new run has no folder yet): nothing kept
            stderr.print("interrupted before training started; nothing was written")
            raise typer.Exit(INTERRUPT_EXIT) from None
        finally:
            display.close()
    _print_result(result)


@contextlib.contextmanager
def _stop_on_sigterm():
    """SIGTERM stops training the way Ctrl-C does: cleanly, resumable."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding application): leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report_interrupt(exc) -> None:
    run_dir = exc.folder.path
    if exc.status == "completed":
        message = f"interrupted after the run completed: {run_dir} has its results"
    elif exc.status in ("diverged", "failed"):
        message = (
            f"interrupted while the run was stopping: {run_dir} ended {exc.status!r}; "
            f"see: dlzero runs show {run_dir}"
        )
    else:
        message = (
            f"interrupted: {run_dir} keeps its last completed epoch (status "
            f"'{exc.status}'); continue with: dlzero train --resume {run_dir}"
        )
    for problem in exc.problems:
        message += f"; not written: {problem}"
    stderr.print(message, soft_wrap=True)


def _print_result(result: TrainResult) -> None:
    from rich.table import Table

    last = result.history[-1]
    summary = result.summary
    outcome = summary.outcome
    title = f"{summary.name}: {last.epoch} epochs"
    if outcome.stopped_early:
        title += " (stopped early)"
    title += f", best epoch {outcome.best_epoch} by {outcome.best_metric}"
    table = Table(title=title, title_justify="left")
    for column in ("split", "loss", "accuracy"):
        table.add_column(column, justify="right" if column != "split" else "left")
    table.add_row("train (epoch average)", fmt(last.train_loss), fmt(last.train_acc))
    if last.val_loss is not None:
        table.add_row("validation", fmt(last.val_loss), fmt(last.val_acc))
    table.add_row("test (best epoch)", fmt(result.test.loss), fmt(result.test.accuracy))
    stdout.print(table)
    stdout.print(f"time {outcome.wall_seconds:.2f}s  ({outcome.samples_per_second:,.0f} samples/s)")
    if result.slowdown is not None:
        stdout.print(
            f"numerical gradients: {result.slowdown:,.0f} times slower per step than "
            "backprop on the same network"
        )
    stdout.print(f"run folder: {result.folder.path}")
