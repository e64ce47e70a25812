"""A sweep trial's DlzeroWarnings come back with the trial (in a Dask worker they would
go to the worker's log) and the command prints each distinct one once."""

from __future__ import annotations

import sys
import warnings

import pytest

from dlzero_cli.errors import DlzeroWarning

TWO_TRIALS = (
    "base: base.yaml\nname: w\nmetric: val_accuracy\nspace:\n  train.optimizer.lr: [0.1, 0.2]\n"
)


def test_a_trial_returns_its_warnings_instead_of_printing_them(monkeypatch, recwarn):
    """In a Dask worker a warning would go to the worker's log: run_trial records them
    (each distinct one, in order) and hands them back with the trial."""
    import dlzero_cli.sweeps.trial as trial_module
    from dlzero_cli.sweeps.trial import TrialOutput, TrialTask, run_trial

    def warn_twice(task):
        for line in ("cache rebuilt", "cache rebuilt", "second"):
            warnings.warn(DlzeroWarning(line), stacklevel=1)
        return TrialOutput(task.index, "completed", {}, 0.0, "host")

    monkeypatch.setattr(trial_module, "_run_trial", warn_twice)
    output = run_trial(TrialTask(3, "trial-0003", {}, 1, None))
    assert output.warnings == ("cache rebuilt", "second")
    assert not [w for w in recwarn if issubclass(w.category, DlzeroWarning)]


def test_a_sweeps_trial_warnings_are_printed_once_by_the_command(
    cli, make_sweep, tmp_path, monkeypatch
):
    import dlzero_cli.sweeps.trial as trial_module

    real = trial_module.train_run

    def train_run(*args, **kwargs):
        warnings.warn(DlzeroWarning("tiny-cache: the cache cannot be written"), stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(trial_module, "train_run", train_run)
    sweep = make_sweep(epochs=1, text=TWO_TRIALS)
    result = cli("sweep", str(sweep), "--serial", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert lines == ["warning: tiny-cache: the cache cannot be written"]


def _warn_in_this_worker() -> None:
    """Sent to a Dask worker process: its trials warn before training."""
    import dlzero_cli.sweeps.trial as trial_module

    real = trial_module.train_run

    def train_run(*args, **kwargs):
        warnings.warn(DlzeroWarning("worker: the cache cannot be written"), stacklevel=1)
        return real(*args, **kwargs)

    trial_module.train_run = train_run


@pytest.mark.slow
def test_a_dask_workers_warnings_come_back_to_the_sweep(make_sweep, tmp_path):
    """Without the recording, the warning would stay in the worker's log."""
    import cloudpickle

    from dlzero_cli.sweeps.cluster import DaskExecutor
    from dlzero_cli.sweeps.execution import run_sweep, start_sweep
    from dlzero_cli.sweeps.spec import load_sweep, plan_sweep

    sweep = make_sweep(epochs=1, text=TWO_TRIALS)
    plan = plan_sweep(load_sweep(str(sweep)))
    folder = start_sweep(plan, tmp_path / "runs", 1, str(sweep))
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # the worker cannot import this file
    try:
        executor = DaskExecutor.local(1)
        executor.client.run(_warn_in_this_worker)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = run_sweep(plan, folder, lambda: executor)
    assert len(report.results) == 2
    lines = [str(w.message) for w in caught if issubclass(w.category, DlzeroWarning)]
    assert lines == ["worker: the cache cannot be written"] * 2  # one per trial
