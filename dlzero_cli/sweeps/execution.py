"""A sweep from start to finish, without the CLI: its folder, its trials run by an
executor (this process, or Dask: see cluster.py), its files kept current, resume and
Ctrl-C.

Results are written as trials finish, in whatever order, keyed by trial index: a
trial's run folder lands once (a second copy of the same trial, from a task Dask ran
again after its worker died, is dropped), and sweep.csv/sweep.json are rewritten after
every trial. Ctrl-C or SIGTERM (which the CLI turns into Ctrl-C) stops the sweep with
its finished trials kept: `resume_sweep` then runs only the others.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from dlzero_cli.config.loading import read_text
from dlzero_cli.errors import DlzeroError, DlzeroWarning, UsageError
from dlzero_cli.runs.folder import utc_now
from dlzero_cli.sweeps.results import (
    SweepFolder,
    SweepSettings,
    SweepState,
    TrialResult,
    best_trial,
    trial_result,
)
from dlzero_cli.sweeps.spec import SweepPlan, axes_log_scale, load_sweep, plan_sweep
from dlzero_cli.sweeps.trial import TrialOutput, TrialTask, run_trial


class Executor(Protocol):
    """Runs trials somewhere and yields their outputs as they finish."""

    description: str  # "serial", "LocalCluster of 2 workers", "tcp://host:8786 (3 workers)"

    def run(self, tasks: Sequence[TrialTask]) -> Iterator[TrialOutput]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Every trial in this process, one after the other: no Dask at all."""

    description = "serial"

    def run(self, tasks: Sequence[TrialTask]) -> Iterator[TrialOutput]:
        for task in tasks:
            yield run_trial(task)

    def close(self) -> None:
        pass


class SweepEvents:
    """What a sweep tells its caller as it goes; the default does nothing."""

    def sweep_started(self, folder: SweepFolder, settings: SweepSettings, execution: str,
                      total: int, finished: int, best: TrialResult | None) -> None: ...  # fmt: skip

    def trial_done(self, result: TrialResult, finished: int, total: int,
                   best: TrialResult | None) -> None: ...  # fmt: skip


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a sweep; `resume_sweep(folder)` continues it."""

    def __init__(self, folder: SweepFolder, finished: int, total: int) -> None:
        super().__init__(str(folder.path))
        self.folder, self.finished, self.total = folder, finished, total


class TrialFailed(DlzeroError):
    """A trial could not run (not a divergence, which is an outcome): the sweep stops."""

    def __init__(self, message: str, exit_code: int, folder: SweepFolder) -> None:
        super().__init__(message)
        self.exit_code, self.folder = exit_code, folder


@dataclass(frozen=True)
class SweepReport:
    folder: SweepFolder
    settings: SweepSettings
    results: tuple[TrialResult, ...]  # every finished trial, by index
    best: TrialResult | None
    ran: int  # trials this call ran (a resume runs only the missing ones)
    execution: str
    wall_seconds: float


# --------------------------------------------------------------------------- starting


def start_sweep(plan: SweepPlan, runs_dir: Path, threads: int, source: str) -> SweepFolder:
    """A new sweep folder holding the sweep file, its base config and its settings.

    Call it after `plan_sweep` has validated every trial: a bad sweep makes no folder.
    """
    sweep = plan.sweep
    base_text = read_text(sweep.base_path)
    folder = SweepFolder.create(runs_dir, sweep.name)
    folder.write_sources(sweep.text, base_text)
    settings = SweepSettings(
        name=sweep.name,
        source=source,
        base=str(sweep.base_path),
        metric=sweep.metric,
        mode=sweep.mode,
        seed=sweep.seed,
        kind=sweep.kind,
        draws=plan.draws,
        trials=len(plan.trials),
        threads=threads,
        space={d.dotted: d.axis.describe() for d in sweep.space},
        started_at=utc_now().isoformat(),
    )
    folder.write_results(settings, SweepState("running", "not started"))
    return folder


def plan_resume(
    path: Path, sweep_file: str | None, draws: int | None, threads: int | None
) -> tuple[SweepPlan, SweepFolder, SweepSettings]:
    """The plan of a sweep to continue from its folder's copies of the sweep file and
    the base config. A SWEEP given again must be the same file; --trials and --threads
    must be the sweep's own (UsageError otherwise)."""
    folder = SweepFolder.open(path)
    settings = folder.read_settings()
    if sweep_file is not None:
        given = load_sweep(sweep_file, base_path=folder.base_path)
        if given.text != folder.read_sweep_text():
            raise UsageError(
                f"{given.path}: differs from the sweep file {folder.sweep_path} was started "
                "with; resume without SWEEP (the folder keeps its copy) or start a new sweep"
            )
    for option, given_value, own in (("--trials", draws, settings.draws),
                                     ("--threads", threads, settings.threads)):  # fmt: skip
        if given_value is not None and given_value != own:
            raise UsageError(
                f"{option} {given_value}: this sweep runs with {option} {own}; resume with "
                "the same value or without the option"
            )
    sweep = replace(load_sweep(str(folder.sweep_path), base_path=folder.base_path),
                    name=settings.name)  # fmt: skip
    plan = plan_sweep(sweep, settings.draws)
    return plan, folder, settings


# --------------------------------------------------------------------------- running


def run_sweep(
    plan: SweepPlan,
    folder: SweepFolder,
    executor: Callable[[], Executor],
    data_dir: Path | None = None,
    events: SweepEvents | None = None,
) -> SweepReport:
    """Run every trial of `plan` not yet finished in `folder` on `executor()` (made only
    when a trial is left to run), keeping the folder's files current.

    Raises SweepInterrupted on Ctrl-C, TrialFailed when a trial cannot run (and any
    other error as it comes), after writing sweep.csv, sweep.json and sweep.png for the
    trials finished so far. The executor is closed in every case.
    """
    events = events or SweepEvents()
    settings = folder.read_settings()
    by_index = {p.trial.index: p for p in plan.trials}
    results = {
        index: trial_result(run, by_index[index].trial, settings.threads)
        for index, run in folder.finished_trials(len(plan.trials)).items()
    }
    tasks = [
        TrialTask(p.trial.index, p.trial.name(settings.name), p.config, settings.threads,
                  None if data_dir is None else str(data_dir))
        for p in plan.trials if p.trial.index not in results
    ]  # fmt: skip
    total, started, ran = len(plan.trials), time.perf_counter(), 0
    execution = "nothing left to run"
    log_scale = axes_log_scale(plan.sweep)

    def write(status: str, error: str | None = None, final: bool = False) -> None:
        state = SweepState(
            status, execution, tuple(results.values()),
            finished_at=utc_now().isoformat() if final else None,
            wall_seconds=round(time.perf_counter() - started, 3) if final else None,
            error=error,
        )  # fmt: skip
        folder.write_results(settings, state)
        if final:
            folder.write_plot(settings, sorted(results.values(), key=lambda r: r.index),
                              log_scale)  # fmt: skip

    def best() -> TrialResult | None:
        return best_trial(list(results.values()), settings.metric, settings.mode)

    running: Executor | None = None
    try:
        if tasks:
            running = executor()
            execution = running.description
        write("running")
        events.sweep_started(folder, settings, execution, total, len(results), best())
        if running is not None:
            for output in running.run(tasks):
                for line in output.warnings:  # raised in the trial, perhaps in a worker
                    warnings.warn(DlzeroWarning(line), stacklevel=1)
                if output.status == "failed":
                    name = folder.trial_name(output.index)
                    raise TrialFailed(f"{name}: {output.error}", output.exit_code, folder)
                if output.index in results:
                    continue  # the same trial again: it lands once
                run = folder.add_trial(output.index, output.files)
                run = run or folder.trial_folder(output.index)
                trial = by_index[output.index].trial
                results[output.index] = trial_result(run, trial, settings.threads)
                ran += 1
                write("running")
                events.trial_done(results[output.index], len(results), total, best())
    except KeyboardInterrupt:
        with interrupts_deferred():  # a second Ctrl-C must not lose the files
            _close(running)
            running = None
            write("interrupted", final=True)
        raise SweepInterrupted(folder, len(results), total) from None
    except BaseException as exc:  # TrialFailed, a cluster that failed, a bug
        _close(running)
        running = None
        error = str(exc) if isinstance(exc, DlzeroError) else f"{type(exc).__name__}: {exc}"
        write("failed", error=error, final=True)
        raise
    finally:
        if running is not None:  # every trial is in: stopping the workers takes seconds,
            with interrupts_deferred():  # and a Ctrl-C then must not lose the sweep's files
                _close(running)
    with interrupts_deferred():
        write("completed", final=True)
    ordered = tuple(sorted(results.values(), key=lambda r: r.index))
    wall = round(time.perf_counter() - started, 3)
    return SweepReport(folder, settings, ordered, best(), ran, execution, wall)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM are held off while the block runs, and then dropped.

    For the last steps of a sweep, closing its workers and writing its files: the work
    is done or being saved, and stopping there would leave sweep.json saying `running`
    and no sweep.png. In another thread than the main one (an embedding application)
    signals cannot be handled: no change.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, lambda number, frame: None)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pending_trials(plan: SweepPlan, folder: SweepFolder) -> int:
    """How many of the plan's trials `folder` has not finished."""
    return len(plan.trials) - len(folder.finished_trials(len(plan.trials)))


def _close(executor: Executor | None) -> None:
    if executor is not None:
        executor.close()
