"""Checkpoints, resume, signals, early stopping and divergence: the run's life cycle."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.formats import read_arrays
from dlzero_cli.runs.lifecycle import (
    RunCallbacks,
    RunInterrupted,
    resume_run,
    train_from_config,
)

# Every piece of state a resume must restore: batch-norm moments, dropout masks
# (the generator), Adam's moments, the schedule's position, the best weights.
FULL = [
    "train.epochs=6",
    "train.batch_size=64",
    "model.batch_norm=true",
    "model.dropout=0.2",
    "model.activation=relu",
    "train.optimizer.name=adam",
    "train.optimizer.lr=0.01",
    "train.schedule.name=cosine",
    "train.schedule.warmup_epochs=1",
    "train.clip_grad_norm=5.0",
]


class StopAt(RunCallbacks):
    """Raise KeyboardInterrupt (as Ctrl-C would) at an epoch's end or mid-epoch."""

    def __init__(self, epoch: int, step: int | None = None) -> None:
        self.epoch, self.step, self.current = epoch, step, 0

    def epoch_started(self, epoch, epochs, steps):
        self.current = epoch

    def step_done(self, step, loss):
        if self.step is not None and self.current == self.epoch and step == self.step:
            raise KeyboardInterrupt

    def epoch_done(self, record):
        if self.step is None and record.epoch == self.epoch:
            raise KeyboardInterrupt


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("weights.npz", "last.npz"):
        wa, wb = read_arrays(a / name), read_arrays(b / name)
        assert wa.keys() == wb.keys()
        for key in wa:
            if key != "architecture":
                np.testing.assert_array_equal(wa[key], wb[key], err_msg=f"{name}:{key}")
    assert metrics(a) == metrics(b)
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    assert sa["test"] == sb["test"] and sa["best_epoch"] == sb["best_epoch"]
    assert sb["status"] == "completed"


@pytest.mark.parametrize(
    "stop", [StopAt(3), StopAt(4, step=5)], ids=["epoch-boundary", "mid-epoch"]
)
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, stop):
    loaded = load_config("digits-64-50-100-10", FULL)
    whole = train_from_config(loaded, tmp_path / "whole").folder.path
    with pytest.raises(RunInterrupted) as info:
        train_from_config(loaded, tmp_path / "split", stop)
    run = info.value.folder.path
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == 3
    assert (run / "curves.png").is_file() and (run / "checkpoint.npz").is_file()
    resumed = resume_run(RunFolder(run))
    assert (
        resumed.folder.path == run
        and json.loads((run / "summary.json").read_text())["resumed_from_epoch"] == 3
    )
    assert_same_run(whole, run)


def test_resume_refuses_a_completed_run(cli):
    assert cli("train", "--epochs", "2", "-q").exit_code == 0
    [run] = cli.runs_dir.iterdir()
    result = cli("train", "--resume", str(run))
    assert result.exit_code == 1 and "status is 'completed'" in result.stderr
    # `latest` is the newest run that can be resumed: there is none.
    result = cli("train", "--resume", "latest")
    assert result.exit_code == 1
    assert f"no run can be resumed (the newest, {run.name}, is completed;" in result.stderr


def test_resume_takes_no_other_settings(cli):
    result = cli("train", "xor-2-4-1", "--resume", "latest")
    assert result.exit_code == 2 and "--resume continues a run exactly" in result.stderr


def test_early_stopping_keeps_the_best_weights(cli):
    result = cli(
        "train", "--epochs", "300", "--set", "train.early_stopping.patience=3",
        "--set", "train.optimizer.lr=2.0", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run = cli.latest_run()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_early"] is True
    assert summary["epochs_completed"] == summary["best_epoch"] + 3 < 300
    rows = metrics(run)
    losses = [float(r["val_loss"]) for r in rows]
    assert int(np.argmin(losses)) + 1 == summary["best_epoch"]
    best, last = read_arrays(run / "weights.npz"), read_arrays(run / "last.npz")
    assert not np.array_equal(best["param/0.W"], last["param/0.W"])
    report = cli.json("eval", str(run), "--split", "val")
    assert report["loss"] == pytest.approx(min(losses), rel=1e-5)


def test_lr_1e3_stops_as_diverged_with_a_clear_message(cli):
    result = cli("train", "--set", "train.optimizer.lr=1e3", "--set", "model.activation=relu",
                 "--set", "model.init=he", "--epochs", "20")  # fmt: skip
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: training diverged: loss ")
    assert "lower train.optimizer.lr (now 1000.0)" in line
    run = cli.latest_run()
    assert json.loads((run / "summary.json").read_text())["status"] == "diverged"
    # It diverged in epoch 1: no epoch's weights to keep, and no file pretends otherwise.
    assert "no epoch completed, so no weight file was written" in line
    assert not (run / "weights.npz").exists() and not (run / "last.npz").exists()


def test_early_stopping_on_validation_needs_validation(write_config):
    from dlzero_cli.errors import ConfigError

    with pytest.raises(ConfigError, match=r"early_stopping\.metric: got 'val_loss', but data"):
        load_config("xor-2-4-1", ["train.early_stopping.patience=2"])


# --------------------------------------------------------------------------- real signals

LONG_RUN = ["--epochs", "3000", "--limit", "200", "--set", "data.validation=20"]


def default_sigint() -> None:
    """In the child, before exec: SIGINT back to its default. A process started by one
    that ignores SIGINT (a script's background job, nohup) inherits the ignoring, and
    Python then installs no KeyboardInterrupt handler: Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def start_training():
    """`start_training(runs)`: a `dlzero train` process, killed and waited for when the
    test ends however it ends (a failed assertion, a timeout), never left running."""
    processes: list[subprocess.Popen] = []

    def start(runs: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlzero_cli", "train", *LONG_RUN, "--runs-dir", str(runs)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
        )  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()  # waits, and closes its pipes


def _epochs_written(run: Path) -> int:
    try:
        return len((run / "metrics.csv").read_text().splitlines()) - 1
    except OSError:
        return 0


def wait_for_checkpoint(runs: Path, process: subprocess.Popen) -> Path:
    for _ in range(600):  # up to a minute; the first checkpoint comes after ~1 s
        # Not a hidden `.*.partial` folder: the run being set up before it appears.
        # A published run has an epoch-0 checkpoint from the start: wait for an epoch's
        # row in metrics.csv, so the signal lands after at least one epoch.
        found = [p for p in runs.glob("*/checkpoint.npz") if not p.parent.name.startswith(".")]
        if found and _epochs_written(found[0].parent) >= 1:
            return found[0].parent
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    process.kill()
    process.communicate()
    pytest.fail("no checkpoint appeared within a minute")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_leaves_a_resumable_run(tmp_path, signum, start_training):
    runs = tmp_path / "runs"
    process = start_training(runs)
    run = wait_for_checkpoint(runs, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"continue with: dlzero train --resume {run}" in " ".join(err.split())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 0 < summary["epochs_completed"] < 3000
    assert (run / "curves.png").is_file()
    resumed = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "train", "--resume", str(run), "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3000


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, start_training):
    runs = tmp_path / "runs"
    process = start_training(runs)
    run = wait_for_checkpoint(runs, process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    resumed = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "train", "--resume", str(run), "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "train", *LONG_RUN, "-q", "--runs-dir",
         str(tmp_path / "whole")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    assert_same_run(next((tmp_path / "whole").iterdir()), run)
