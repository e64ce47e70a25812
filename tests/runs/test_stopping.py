"""However a run stops, from its first write on, its status says so: setup failures and
Ctrl-C while a run is set up or resumed, and signals that come while it stops."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import WriteError
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.lifecycle import RunCallbacks, RunInterrupted, resume_run, train_from_config


def xor(epochs: int = 2) -> object:
    return load_config("xor-2-4-1", [f"train.epochs={epochs}"])


def status(run: Path) -> str:
    return json.loads((run / "summary.json").read_text())["status"]


class StopAfter(RunCallbacks):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_done(self, record):
        if record.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture
def interrupted(tmp_path) -> Path:
    """A run stopped after its first of three epochs."""
    with pytest.raises(RunInterrupted) as info:
        train_from_config(xor(3), tmp_path, StopAfter(1))
    return info.value.folder.path


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt, whatever the process running the suite set."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_full_disk_when_resuming_writes_the_checkpoint_ends_failed(interrupted, monkeypatch):
    """The first checkpoint flush of a resume fails (no space): the run ends `failed`,
    with the reason, never left at `running`; it resumes once there is room."""

    def no_space(self, model, checkpoint):
        raise WriteError(self.checkpoint_path, OSError(28, "No space left on device"))

    monkeypatch.setattr(RunFolder, "write_checkpoint", no_space)
    with pytest.raises(WriteError):
        resume_run(RunFolder(interrupted))
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "No space left on device" in summary["error"]
    monkeypatch.undo()
    resume_run(RunFolder(interrupted))
    assert status(interrupted) == "completed"


def test_ctrl_c_right_after_the_folder_is_published_ends_interrupted(
    tmp_path, monkeypatch, sigint_raises
):
    real = RunFolder.publish

    def publish_then_ctrl_c(self):
        published = real(self)
        os.kill(os.getpid(), signal.SIGINT)  # lands as soon as the signal can be taken
        return published

    monkeypatch.setattr(RunFolder, "publish", publish_then_ctrl_c)
    with pytest.raises(RunInterrupted) as info:
        train_from_config(xor(), tmp_path)
    run = info.value.folder.path
    assert run.is_dir() and not run.name.startswith(".")
    assert status(run) == "interrupted"
    assert [p.name for p in tmp_path.iterdir()] == [run.name]
    monkeypatch.undo()
    resume_run(RunFolder(run))
    assert status(run) == "completed"


def test_ctrl_c_while_a_resume_sets_up_ends_interrupted(interrupted, monkeypatch):
    """Ctrl-C after the resumed run's `running` summary, before its first epoch."""
    real = RunFolder.write_metrics
    calls = []

    def write_metrics_then_ctrl_c(self, records):
        real(self, records)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "write_metrics", write_metrics_then_ctrl_c)
    with pytest.raises(RunInterrupted):
        resume_run(RunFolder(interrupted))
    assert status(interrupted) == "interrupted"


# --------------------------------------------------------------------------- optimizer state


def test_non_finite_optimizer_state_ends_diverged_not_failed(tmp_path, monkeypatch):
    """Adam in float32 with a 1e20 gradient: W does not move (m / sqrt(v) with v = inf is
    0) but v is infinite. The run ends `diverged` naming the slot, with the last finite
    epoch's weights and a finite checkpoint, not `failed` at the checkpoint's write."""
    from dlzero_cli.engine.layers import Affine
    from dlzero_cli.errors import TrainingDiverged
    from dlzero_cli.runs.formats import read_arrays

    real = Affine.backward
    epoch = {"now": 0}

    class Epochs(RunCallbacks):
        def epoch_started(self, n, epochs, steps):
            epoch["now"] = n

    def huge_gradient_in_epoch_2(self, dout):
        dx = real(self, dout)
        if epoch["now"] == 2:
            self.grads["W"][...] = 1e20
        return dx

    monkeypatch.setattr(Affine, "backward", huge_gradient_in_epoch_2)
    config = load_config(
        "xor-2-4-1",
        ["train.epochs=3", "train.optimizer.name=adam", "train.dtype=float32"],
    )
    with pytest.raises(TrainingDiverged) as info:
        train_from_config(config, tmp_path, Epochs())
    assert "optimizer state became non-finite (v." in str(info.value)
    [run] = list(tmp_path.iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged", summary.get("error")
    assert summary["epochs_completed"] == 1
    checkpoint = read_arrays(run / "checkpoint.npz")
    for name, array in checkpoint.items():  # history has NaN for "no validation"
        if name != "history" and np.issubdtype(array.dtype, np.inexact):
            assert np.isfinite(array).all(), name


# --------------------------------------------------------------------------- --restart


def test_restart_removes_the_earlier_attempts_results(interrupted, monkeypatch):
    """A restart that diverges in its first epoch leaves no weight file, manifest, eval
    report or figure of the attempt before it: `latest` and eval cannot use them."""
    from dlzero_cli.engine.layers import Affine
    from dlzero_cli.errors import RunError, TrainingDiverged

    run = interrupted
    for name in ("eval-xor-test.json", "confusion-xor-test.png", "misclassified-xor-test.png"):
        (run / name).write_text("from the earlier attempt\n")
    (run / "curves.png").write_text("old\n")
    assert {"weights.npz", "last.npz", "manifest.json"} <= {p.name for p in run.iterdir()}
    (run / "checkpoint.npz").unlink()

    def nan(self, x):
        return np.full((x.shape[0], self.params["W"].shape[1]), np.nan)

    monkeypatch.setattr(Affine, "forward", nan)
    with pytest.raises(TrainingDiverged, match="no weight file was written"):
        resume_run(RunFolder(run), restart=True)
    left = {p.name for p in run.iterdir()}
    assert left.isdisjoint(
        {"weights.npz", "last.npz", "manifest.json", "eval-xor-test.json",
         "confusion-xor-test.png", "misclassified-xor-test.png"}
    ), left  # fmt: skip
    assert status(run) == "diverged"
    with pytest.raises(RunError, match="no run has weights yet"):
        RunFolder.find("latest", run.parent)


# --------------------------------------------------------------------------- latest


def test_resume_latest_is_the_newest_resumable_run_and_says_what_it_skipped(cli):
    """`train --resume latest` continues the newest run that can be resumed; when that
    is not the newest run, one line says which it chose and why it skipped the others."""
    with pytest.raises(RunInterrupted) as info:
        train_from_config(xor(3), cli.runs_dir, StopAfter(1))
    stopped = info.value.folder
    done = train_from_config(xor(1), cli.runs_dir).folder  # newer, completed
    folder = RunFolder.find("latest", cli.runs_dir, need_weights=False, resumable=True)
    assert folder.path == stopped.path
    assert folder.note == (
        f"latest: using {stopped.name}, the newest run that can be resumed; skipped "
        f"{done.name} (completed)"
    )
    result = cli("train", "--resume", "latest", "-q")
    assert result.exit_code == 0, result.stderr
    assert folder.note in " ".join(result.stderr.split())
    assert status(stopped.path) == "completed"
    # Nothing left to resume: one line, exit 1.
    result = cli("train", "--resume", "latest", "-q")
    assert result.exit_code == 1
    assert "no run can be resumed" in result.stderr
    # Without a requirement, latest is the newest run, and there is nothing to say.
    newest = RunFolder.find("latest", cli.runs_dir, need_weights=False)
    assert newest.path == done.path and newest.note is None


# --------------------------------------------------------------------------- deferred signals


def signal_while_stopping(monkeypatch, status: str, signum: int = signal.SIGINT) -> None:
    """A signal arrives while summary.json is written with `status`."""
    real = RunFolder.write_summary

    def write_summary_and_signal(self, value):
        if value.status == status:
            os.kill(os.getpid(), signum)
        real(self, value)

    monkeypatch.setattr(RunFolder, "write_summary", write_summary_and_signal)


def test_ctrl_c_while_a_diverged_run_stops_exits_130_and_stays_diverged(
    cli, monkeypatch, sigint_raises
):
    signal_while_stopping(monkeypatch, "diverged")
    result = cli("train", "xor-2-4-1", "--epochs", "2", "--set", "train.optimizer.lr=1e308", "-q")
    assert result.exit_code == 130, result.stderr
    [run] = list(cli.runs_dir.iterdir())
    assert status(run) == "diverged"
    assert f"interrupted while the run was stopping: {run} ended 'diverged'" in (
        " ".join(result.stderr.split())
    )


def test_sigterm_while_a_failed_run_stops_exits_130_and_stays_failed(tmp_path, monkeypatch):
    from dlzero_cli.engine.layers import Affine

    def crash(self, x):
        raise RuntimeError("a planted bug")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal_while_stopping(monkeypatch, "failed", signal.SIGTERM)
    monkeypatch.setattr(Affine, "forward", crash)
    previous = signal.signal(signal.SIGTERM, stop)  # as `dlzero train` sets it
    try:
        with pytest.raises(RunInterrupted) as info:
            train_from_config(xor(), tmp_path)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert info.value.status == "failed"
    assert status(info.value.folder.path) == "failed"


# --------------------------------------------------------------------------- summary.json


def test_a_full_disk_rewrites_summary_in_place_but_never_grows_it(tmp_path, monkeypatch):
    import errno

    from dlzero_cli.runs import folder as folder_module
    from dlzero_cli.runs.documents import Summary

    run = RunFolder(tmp_path)
    run.write_summary(Summary(name="x", status="running", started_at="t"))
    size = (tmp_path / "summary.json").stat().st_size
    assert size % 4096 == 0 and json.loads((tmp_path / "summary.json").read_text())

    def no_space(path, text):
        raise WriteError(path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(folder_module, "write_text", no_space)
    # The final summary fits in the room the running one kept: written in place.
    run.write_summary(Summary(name="x", status="failed", started_at="t", error="e" * 1500))
    assert (tmp_path / "summary.json").stat().st_size == size
    assert run.read_summary().status == "failed"
    # One that would grow the file is refused, and the file is left whole.
    before = (tmp_path / "summary.json").read_bytes()
    with pytest.raises(WriteError, match="No space left"):
        run.write_summary(Summary(name="x", status="failed", started_at="t", error="e" * size))
    assert (tmp_path / "summary.json").read_bytes() == before
