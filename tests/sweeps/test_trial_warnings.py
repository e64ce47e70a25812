"""A sweep trial's DlzeroWarnings come back with the trial (in a Dask worker they would
go to the worker's log) and the command prints each distinct one once."""

from __future__ import annotations

import warnings

from dlzero_cli.errors import DlzeroWarning


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
    sweep = make_sweep(epochs=1, text="base: base.yaml\nname: w\nmetric: val_accuracy\n"
                       "space:\n  train.optimizer.lr: [0.1, 0.2]\n")  # fmt: skip
    result = cli("sweep", str(sweep), "--serial", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert lines == ["warning: tiny-cache: the cache cannot be written"]
