"""`dlzero sweep`: a hyperparameter search, each trial a run, on Dask or serially."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    handles_errors,
    report_error,
    runs_dir_or_default,
    stderr,
    stdout,
)
from dlzero_cli.cli.usage import INTERRUPT_EXIT

if TYPE_CHECKING:
    from dlzero_cli.sweeps.execution import SweepReport
    from dlzero_cli.sweeps.spec import SweepPlan

TOP_ROWS = 5  # trials in the final table


@app.command("sweep")
@handles_errors
def sweep_command(
    sweep: str = typer.Argument(
        None,
        help="A sweep YAML file, or the name of a shipped sweep (configs/sweeps/, e.g. "
        "ch6-lr-decay). Optional with --resume.",
        show_default=False,
    ),
    trials: int = typer.Option(
        None, "--trials", min=1, help="Random draws (per grid point), over the file's `trials`."
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        min=0,
        help="Dask worker processes started on this machine [default: one per core]; "
        "0 runs the trials in this process, without Dask.",
        show_default=False,
    ),
    serial: bool = typer.Option(False, "--serial", help="Same as --workers 0."),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Run on an existing Dask cluster: its scheduler's tcp://HOST:PORT.",
    ),
    resume: Path = typer.Option(
        None, "--resume", help="Continue a stopped sweep: its folder. Runs only missing trials."
    ),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="BLAS threads per trial, recorded with it (results depend on it) [default: 1].",
        show_default=False,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final results."),
) -> None:
    """Search hyperparameters: one run per trial, in `runs/TIME-NAME/trials/`.

    Each trial is a Dask task: on a LocalCluster started here (one worker per core), on
    an existing cluster (`--scheduler`), or in this process (`--serial`). The sweep
    folder gets sweep.csv, sweep.json and sweep.png; Ctrl-C keeps finished trials.

    Examples:

    ```
    dlzero sweep my-sweep.yaml                  # a LocalCluster, one worker per core
    dlzero sweep ch6-lr-decay --workers 2       # the shipped chapter-6 search
    dlzero sweep my-sweep.yaml --trials 50 --serial
    dlzero sweep my-sweep.yaml --scheduler tcp://10.0.0.5:8786
    dlzero sweep --resume runs/20261130T080000Z-lr-decay-search
    ```
    """
    from dlzero_cli.cli.train_cmd import _stop_on_sigterm  # SIGTERM stops as Ctrl-C does
    from dlzero_cli.errors import UsageError
    from dlzero_cli.sweeps.execution import pending_trials, plan_resume, start_sweep
    from dlzero_cli.sweeps.spec import load_sweep, plan_sweep

    if scheduler is not None and (serial or workers is not None):
        raise UsageError("--scheduler runs on that cluster's workers; drop --workers/--serial")
    if serial and workers:
        raise UsageError(f"--serial runs in this process; drop --workers {workers}")
    if resume is None and sweep is None:
        raise UsageError("give a SWEEP file (or the name of a shipped sweep), or --resume DIR")
    if resume is not None:
        plan, folder, _ = plan_resume(resume, sweep, trials, threads)
    else:
        loaded = load_sweep(sweep)
        if trials is not None and loaded.kind == "grid":
            raise UsageError(
                f"--trials {trials}: {sweep} is a grid search, which runs every combination; "
                "--trials counts random draws"
            )
        plan = plan_sweep(loaded, trials)
    if scheduler is None:  # this machine's workers share its data folder: fetch once, here
        _download_missing(plan, data_dir)
    in_process = serial or workers == 0
    make = _executor(in_process, scheduler, workers or _cores())
    display = make_sweep_display(quiet)
    with _stop_on_sigterm():
        executor = None
        try:
            # Workers first, then the folder: a scheduler that cannot be reached (or a
            # Ctrl-C while workers start) leaves no empty sweep folder behind.
            pending = pending_trials(plan, folder) if resume is not None else len(plan.trials)
            if pending:
                if not in_process:
                    display.executor_starting(pending)
                executor = make()
            if resume is None:
                folder = start_sweep(plan, runs_dir_or_default(runs_dir), threads or 1, sweep)
        except KeyboardInterrupt:
            _close(executor, display)
            stderr.print("interrupted before the first trial; nothing was written")
            raise typer.Exit(INTERRUPT_EXIT) from None
        except BaseException:
            _close(executor, display)
            raise
        report = _run(plan, folder, lambda: executor, data_dir, display)
    _print_report(report)


def _close(executor, display) -> None:
    display.close()
    if executor is not None:
        executor.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _executor(in_process: bool, scheduler: str | None, workers: int):
    """A factory: Dask is imported only when it is called, for a sweep with trials to run."""

    def make():
        if in_process:
            from dlzero_cli.sweeps.execution import SerialExecutor

            return SerialExecutor()
        from dlzero_cli.sweeps.cluster import DaskExecutor

        return DaskExecutor.connect(scheduler) if scheduler else DaskExecutor.local(workers)

    return make


def _download_missing(plan: SweepPlan, data_dir: Path | None) -> None:
    from dlzero_cli.cli.download_progress import make_download_events
    from dlzero_cli.data.remote import download_missing

    for dataset in plan.datasets:
        events = make_download_events()
        try:
            download_missing(dataset, data_dir, events)
        finally:
            events.close()


def _run(plan, folder, executor, data_dir: Path | None, display) -> SweepReport:
    """The sweep with its display; Ctrl-C/SIGTERM and failed trials as one line plus how
    to continue."""
    from dlzero_cli.errors import DlzeroError
    from dlzero_cli.sweeps.execution import SweepInterrupted, run_sweep

    resume_hint = f"dlzero sweep --resume {folder.path}"
    try:
        return run_sweep(plan, folder, executor, data_dir, display)
    except SweepInterrupted as exc:
        display.close()
        stderr.print(
            f"interrupted: {exc.finished} of {exc.total} trials finished, kept in "
            f"{folder.path}; continue with: {resume_hint}",
            soft_wrap=True,
        )
        raise typer.Exit(INTERRUPT_EXIT) from None
    except DlzeroError as exc:
        display.close()
        report_error(str(exc))
        stderr.print(f"finished trials are kept; continue with: {resume_hint}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    finally:
        display.close()


def _print_report(report: SweepReport) -> None:
    from rich.table import Table

    from dlzero_cli.cli.common import fmt
    from dlzero_cli.sweeps.results import best_trial
    from dlzero_cli.sweeps.spec import format_value

    settings, results, folder = report.settings, report.results, report.folder
    metric, mode = settings.metric, settings.mode
    counts = {s: sum(r.status == s for r in results) for s in ("completed", "diverged")}
    stdout.print(
        f"sweep {settings.name}: {len(results)} trials ({counts['completed']} completed, "
        f"{counts['diverged']} diverged); {report.ran} run now in {report.wall_seconds:.1f}s "
        f"({report.execution})",
        soft_wrap=True,
    )
    ranked, rest = [], list(results)
    while rest and len(ranked) < TOP_ROWS and (best := best_trial(rest, metric, mode)):
        ranked.append(best)
        rest.remove(best)
    if ranked:
        table = Table(title=f"best trials by {metric} ({mode})", title_justify="left")
        short = [key.split(".")[-1] for key in settings.space]
        keys = short if len(set(short)) == len(short) else list(settings.space)
        for column in ("trial", *keys, metric, "test_accuracy", "epochs run"):
            table.add_column(column, justify="right")
        for r in ranked:
            values = (format_value(r.values[k], 4) for k in settings.space)
            table.add_row(str(r.index), *values, fmt(r.metrics[metric]),
                          fmt(r.metrics["test_accuracy"]), str(r.epochs))  # fmt: skip
        stdout.print(table)
        top = ranked[0]
        values = "  ".join(f"{k}={format_value(v, 6)}" for k, v in top.values.items())
        stdout.print(f"best: trial {top.index}  {metric} {fmt(top.metrics[metric])}  {values}",
                     soft_wrap=True)  # fmt: skip
        stdout.print(f"best run: {folder.trials_path / top.run}", soft_wrap=True)
    for label, path in (("sweep.csv", folder.csv_path), ("sweep.json", folder.json_path),
                        ("sweep.png", folder.plot_path)):  # fmt: skip
        stdout.print(f"{label + ':':<12}{path}", soft_wrap=True)
    if not ranked:  # as `dlzero train` does when its run diverges
        report_error("no trial completed: every one diverged; narrow the space (lower lr)")
        raise typer.Exit(1)


# --------------------------------------------------------------------------- progress


def make_sweep_display(quiet: bool):
    """--quiet: nothing until the end; a bar plus the best so far on a terminal; plain
    lines otherwise (CI logs, pipes)."""
    from dlzero_cli.sweeps.execution import SweepEvents
    from dlzero_cli.sweeps.spec import describe_values

    def best_text(best, metric: str) -> str:
        if best is None:
            return "best: -"
        return f"best: trial {best.index} {metric} {best.metrics[metric]:.4f}"

    class Quiet(SweepEvents):
        def executor_starting(self, pending: int) -> None:
            pass

        def close(self) -> None:
            pass

    class Lines(SweepEvents):
        def executor_starting(self, pending: int) -> None:
            print(f"preparing Dask workers for {pending} trials", flush=True)

        def sweep_started(self, folder, settings, execution, total, finished, best) -> None:
            self.metric = settings.metric
            where = "nothing left to run" if finished == total else f"running on {execution}"
            print(f"sweep {settings.name}: {total} trials ({settings.kind}), {finished} "
                  f"finished before; {where}; folder {folder.path}", flush=True)  # fmt: skip

        def trial_done(self, result, finished, total, best) -> None:
            value = result.metrics[self.metric]
            shown = "-" if value is None else f"{value:.4f}"
            print(
                f"trial {result.index} ({finished}/{total}) {result.status:<9} "
                f"{self.metric} {shown}  {describe_values(result.values)}  "
                f"{result.train_seconds or 0:.1f}s  | {best_text(best, self.metric)}",
                flush=True,
            )

        def close(self) -> None:
            pass

    class Bar(SweepEvents):
        def __init__(self) -> None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                console=stdout,
            )
            self.task = None

        def executor_starting(self, pending: int) -> None:
            stdout.print(f"preparing Dask workers for {pending} trials ...")

        def sweep_started(self, folder, settings, execution, total, finished, best) -> None:
            self.metric = settings.metric
            stdout.print(f"sweep {settings.name}: {total} trials ({settings.kind}) on "
                         f"{execution}; folder {folder.path}", soft_wrap=True)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task(
                "trials", total=total, completed=finished, best=best_text(best, self.metric)
            )

        def trial_done(self, result, finished, total, best) -> None:
            self.bar.update(self.task, completed=finished, best=best_text(best, self.metric))

        def close(self) -> None:
            self.bar.stop()

    if quiet:
        return Quiet()
    return Bar() if stdout.is_terminal else Lines()
