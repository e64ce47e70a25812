"""Issue 12, sections 1, 3, 4 and 8: no NaN result, failed writes are one line and lose
nothing, and a run's status is the truth (staged folders, the lock, `latest`, resume
from the checkpoint, --restart, crashes, signals while finishing, run names)."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import RunError, RunLocked, WriteError
from dlzero_cli.runs import lifecycle
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.formats import read_arrays
from dlzero_cli.runs.lifecycle import RunCallbacks, RunInterrupted, resume_run, train_from_config

# A small run that checkpoints state worth restoring (Adam, dropout, the generator).
SMALL = ["train.epochs=4", "data.limit=300", "train.optimizer.name=adam", "model.dropout=0.2"]


def small() -> object:
    return load_config("digits-64-50-100-10", SMALL)


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical weights and metrics (timing columns aside), the same test score."""
    for name in ("weights.npz", "last.npz"):
        wa, wb = read_arrays(a / name), read_arrays(b / name)
        assert wa.keys() == wb.keys()
        for key in wa:
            if key != "architecture":
                np.testing.assert_array_equal(wa[key], wb[key], err_msg=f"{name}:{key}")
    assert metrics(a) == metrics(b)
    assert summary(a)["test"] == summary(b)["test"]
    assert summary(b)["status"] == "completed"


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def visible(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The uninterrupted run every resumed one must equal."""
    return train_from_config(small(), tmp_path_factory.mktemp("whole")).folder.path


# --------------------------------------------------------------------------- 1. no NaN


@pytest.mark.parametrize(
    "sets",
    [["--epochs", "1"], ["--set", "train.batch_size=2000", "--epochs", "3"]],
    ids=["1-epoch", "batch-2000-3-epochs"],
)
def test_lr_1e308_ends_diverged_with_no_weight_file(cli, sets):
    """Both reproducers of the issue: once exit 0 `completed` with NaN weights, once
    `diverged` pointing at a NaN file. The weights are NaN after epoch 1's step."""
    result = cli("train", "xor-2-4-1", "--set", "train.optimizer.lr=1e308", *sets)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: training diverged: weights became non-finite")
    assert "(epoch 1, step 1)" in line
    assert "no epoch completed, so no weight file was written" in line
    [run] = visible(cli.runs_dir)
    assert summary(run)["status"] == "diverged"
    assert not (run / "weights.npz").exists() and not (run / "last.npz").exists()
    checkpoint = read_arrays(run / "checkpoint.npz")  # epoch 0: the initial weights
    assert all(np.isfinite(v).all() for v in checkpoint.values() if v.dtype.kind == "f")
    assert cli("predict", "latest", "1,0").exit_code == 1  # nothing to predict with


class PoisonAtEpoch(RunCallbacks):
    """Make a weight NaN during epoch `epoch`'s last step (after its loss was computed:
    the loss alone would not tell)."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.current, self.steps = epoch, 0, 0

    def run_started(self, folder, model, splits):
        self.model = model

    def epoch_started(self, epoch, epochs, steps):
        self.current, self.steps = epoch, steps

    def step_done(self, step, loss):
        if self.current == self.epoch and step == self.steps:
            self.model.network.named_params()["0.W"][0, 0] = np.nan


def test_weights_that_turn_nan_keep_the_last_finite_epoch(tmp_path):
    with pytest.raises(Exception) as info:
        train_from_config(small(), tmp_path, PoisonAtEpoch(3))
    message = str(info.value)
    assert "weights became non-finite (0.W)" in message and "(epoch 3," in message
    [run] = visible(tmp_path)
    assert (
        "the last completed epoch's weights (epoch 2) are in" in message
        and str(run / "last.npz") in message
    )
    assert summary(run)["status"] == "diverged" and summary(run)["epochs_completed"] == 2
    checkpoint = read_arrays(run / "checkpoint.npz")
    for name in ("weights.npz", "last.npz"):
        arrays = read_arrays(run / name)
        assert all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")
    np.testing.assert_array_equal(
        read_arrays(run / "last.npz")["param/0.W"], checkpoint["param/0.W"]
    )


def test_a_write_error_is_one_line_and_survives_pickling():
    import pickle

    error = WriteError("/runs/x/summary.json", OSError(errno.EROFS, os.strerror(errno.EROFS)))
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) == "/runs/x/summary.json: cannot write: Read-only file system"
    assert isinstance(again, OSError) and again.errno == errno.EROFS and again.exit_code == 1


def test_a_weight_file_is_never_written_non_finite(tmp_path, trained_model):
    folder, model = trained_model
    model.network.named_params()["0.W"][0, 0] = np.inf
    before = digests(folder.path)
    for write in (folder.write_last, folder.write_weights):
        with pytest.raises(RunError, match="not written: W1 not finite"):
            write(model)
    assert digests(folder.path) == before


@pytest.fixture
def trained_model(tmp_path):
    result = train_from_config(load_config("xor-2-4-1", ["train.epochs=2"]), tmp_path)
    return result.folder, result.folder.read_model()


# --------------------------------------------------------------------------- 3. failed writes


class FailingReplace:
    """os.replace raising `error` at its `nth` call (atomic writes rename through it)."""

    def __init__(self, nth: int, error: int = errno.ENOSPC) -> None:
        self.nth, self.error, self.calls, self.failed = nth, error, 0, None
        self.real = os.replace

    def __call__(self, src, dst, *args, **kwargs):
        self.calls += 1
        if self.calls == self.nth:
            self.failed = Path(dst)
            raise OSError(self.error, os.strerror(self.error))
        return self.real(src, dst, *args, **kwargs)


def test_a_full_disk_at_any_write_is_one_line_and_leaves_a_resumable_folder(
    cli, monkeypatch, whole
):
    """Fail the 1st, 2nd, ... write of a run (until a run gets through): each time one
    line naming the file and "No space left on device", exit 1; then either no run folder
    at all, or one whose summary says `failed` and that resumes to the uninterrupted
    run's exact result. The earlier good run's files are never touched."""
    good = cli.runs_dir / "good"
    train_from_config(load_config("xor-2-4-1", ["train.epochs=2"]), good)
    [good_run] = visible(good)
    good_files = digests(good_run)
    args = ["--set", f"data.limit={300}", "--set", "train.optimizer.name=adam",
            "--set", "model.dropout=0.2", "--epochs", "4", "-q"]  # fmt: skip
    nth = 0
    while True:
        nth += 1
        runs = cli.runs_dir / f"n{nth}"
        failing = FailingReplace(nth)
        monkeypatch.setattr(os, "replace", failing)
        result = cli("train", *args, "--runs-dir", str(runs), runs=False)
        monkeypatch.undo()
        if failing.failed is None:  # every write done: the run is complete
            assert result.exit_code == 0, result.stderr
            break
        if failing.failed.name == "summary.json" and result.exit_code == 0:
            # A full disk still lets summary.json be rewritten in its own blocks.
            [run] = visible(runs)
            assert_same_run(whole, run)
            continue
        assert result.exit_code == 1, (nth, failing.failed, result.stderr)
        [line] = result.stderr.splitlines()
        assert line == f"error: {failing.failed}: cannot write: No space left on device", nth
        folders = visible(runs) if runs.exists() else []
        assert not [p for p in runs.rglob(".*.tmp")], nth  # no temporary file left
        if not folders:
            continue  # failed while setting up: nothing appeared
        [run] = folders
        state = summary(run)
        assert state["status"] == "failed", (nth, state["status"])
        assert "No space left on device" in state["error"]
        resumed = cli("train", "--resume", str(run), "-q")
        assert resumed.exit_code == 0, (nth, resumed.stderr)
        assert_same_run(whole, run)
    assert nth > 10  # the run writes that many files: every one was made to fail
    assert digests(good_run) == good_files


@pytest.mark.parametrize(
    "error", [errno.EROFS, errno.EACCES, errno.ENOSPC], ids=["read-only", "denied", "no-space"]
)
def test_an_unwritable_runs_folder_is_one_line_and_creates_nothing(cli, monkeypatch, error):
    """A read-only or full runs folder (made so by failing the temporary file's creation:
    tests run as root here, where chmod would not stop a write)."""
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(error, os.strerror(error))

    if os.getuid() != 0:  # chmod stops writes: the real thing
        cli.runs_dir.mkdir()
        cli.runs_dir.chmod(0o555)
    else:
        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        result = cli("train", "xor-2-4-1", "--epochs", "1", "-q")
    finally:
        if cli.runs_dir.exists():
            cli.runs_dir.chmod(0o755)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    if os.getuid() == 0:
        assert line.endswith(f": cannot write: {os.strerror(error)}"), line
        assert "config.yaml" in line
    assert visible(cli.runs_dir) == [] if cli.runs_dir.exists() else True
    assert not [p for p in cli.runs_dir.rglob("*")] if cli.runs_dir.exists() else True


@pytest.mark.slow
@pytest.mark.parametrize("kb", [16, 64, 160, 240])
def test_a_full_tmpfs_fails_in_one_line_and_resumes_once_it_has_room(tmp_path, kb):
    """The issue's own reproducer, where a tmpfs can be mounted (root, outside most
    containers): a run on a tmpfs of `kb` KB; then the tmpfs grows and the run resumes."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); patched writes cover it")
    runs = mount / "runs"
    dlzero = [sys.executable, "-m", "dlzero_cli", "train"]
    try:
        result = subprocess.run(
            [*dlzero, "--limit", "300", "--epochs", "3", "-q", "--runs-dir", str(runs)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        folders = visible(runs) if runs.exists() else []
        if result.returncode == 1:
            [line] = result.stderr.splitlines()
            assert line.endswith(": cannot write: No space left on device"), line
            assert len(folders) <= 1
            subprocess.run(["mount", "-o", "remount,size=4m", str(mount)], check=True)
            for run in folders:
                assert summary(run)["status"] == "failed"
                resumed = subprocess.run(
                    [*dlzero, "--resume", str(run), "-q"], capture_output=True, text=True,
                    timeout=120,
                )  # fmt: skip
                assert resumed.returncode == 0, resumed.stderr
                assert summary(run)["status"] == "completed"
        else:
            assert summary(folders[0])["status"] == "completed"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# --------------------------------------------------------------------------- section 8: atomic


@pytest.mark.parametrize("how", ["unencodable", "enospc-on-write"])
def test_a_failing_atomic_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch, how
):
    from dlzero_cli import atomic

    target = tmp_path / "summary.json"
    atomic.write_text(target, "old and good\n")
    if how == "unencodable":
        new, expected = "half\ud800written", UnicodeEncodeError
    else:
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                self.f.write(data[:3])  # a partial write first, as a full disk does
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.f.__exit__(*exc)

        monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
        new, expected = "new text that does not fit", WriteError
    with pytest.raises(expected) as info:
        atomic.write_text(target, new)
    if expected is WriteError:
        assert str(info.value) == f"{target}: cannot write: No space left on device"
    assert target.read_text() == "old and good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


# --------------------------------------------------------------------------- 4. signals


def test_ctrl_c_after_the_last_epoch_ends_interrupted_with_curves(cli, monkeypatch):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "evaluate", ctrl_c)  # the test score, after the last epoch
    result = cli("train", "xor-2-4-1", "--epochs", "3", "-q")
    assert result.exit_code == 130
    [run] = visible(cli.runs_dir)
    assert f"interrupted: {run} keeps its last completed epoch (status 'interrupted')" in (
        " ".join(result.stderr.split())
    )
    assert summary(run)["status"] == "interrupted" and summary(run)["epochs_completed"] == 3
    assert (run / "curves.png").is_file()
    monkeypatch.undo()
    assert cli("train", "--resume", str(run), "-q").exit_code == 0
    assert summary(run)["status"] == "completed"


def test_a_second_ctrl_c_while_stopping_waits_for_the_status(tmp_path, monkeypatch):
    """The first Ctrl-C stops training; a second (a real SIGINT) arrives while the weight
    files are written: the status still ends `interrupted`, curves drawn."""
    real = RunFolder.write_last

    def write_last_and_ctrl_c(self, model):
        os.kill(os.getpid(), signal.SIGINT)
        real(self, model)

    class CtrlC(RunCallbacks):
        def epoch_done(self, record):
            if record.epoch == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "write_last", write_last_and_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(RunInterrupted) as info:
            train_from_config(small(), tmp_path, CtrlC())
    finally:
        signal.signal(signal.SIGINT, previous)
    run = info.value.folder.path
    assert summary(run)["status"] == "interrupted" and (run / "curves.png").is_file()


def test_sigterm_while_a_completed_run_writes_its_files_says_completed(tmp_path, monkeypatch):
    real = RunFolder.write_summary

    def write_summary_and_sigterm(self, value):
        if value.status == "completed":
            os.kill(os.getpid(), signal.SIGTERM)
        real(self, value)

    def stop(signum, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "write_summary", write_summary_and_sigterm)
    previous = signal.signal(signal.SIGTERM, stop)  # as `dlzero train` sets it
    try:
        with pytest.raises(RunInterrupted) as info:
            train_from_config(load_config("xor-2-4-1", ["train.epochs=2"]), tmp_path)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert info.value.status == "completed"
    assert summary(info.value.folder.path)["status"] == "completed"


# --------------------------------------------------------------------------- 4. folders


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_folder_appears_only_resumable(tmp_path, monkeypatch):
    """Stop a run at each write while it is set up: nothing visible is left behind;
    once the folder appears, it has its config, a running summary and a checkpoint."""
    real = RunFolder.publish
    seen = {}

    def publish(self):
        seen["files"] = sorted(p.name for p in self.path.iterdir())
        assert visible(tmp_path) == []
        return real(self)

    monkeypatch.setattr(RunFolder, "publish", publish)
    train_from_config(load_config("xor-2-4-1", ["train.epochs=1"]), tmp_path)
    assert {"config.yaml", "summary.json", "checkpoint.npz", ".lock"} <= set(seen["files"])

    monkeypatch.undo()
    for nth in (1, 2, 3):  # config.yaml, summary.json, checkpoint.npz
        runs = tmp_path / f"stop{nth}"
        failing = FailingReplace(nth)
        monkeypatch.setattr(os, "replace", failing)
        with pytest.raises(WriteError):
            train_from_config(load_config("xor-2-4-1", ["train.epochs=1"]), runs)
        monkeypatch.undo()
        assert list(runs.iterdir()) == []  # not even a hidden partial folder


def test_a_stale_partial_folder_is_ignored_and_then_removed(tmp_path, cli):
    stale = cli.runs_dir / f".20200101T000000Z-xor-2-4-1.{dead_pid()}-abc.partial"
    live = cli.runs_dir / f".20200101T000000Z-xor-2-4-1.{os.getpid()}-abc.partial"
    for partial in (stale, live):
        partial.mkdir(parents=True)
        (partial / "config.yaml").write_text("name: x\n")
    assert RunFolder.all(cli.runs_dir) == []
    with pytest.raises(RunError, match="no runs yet"):
        RunFolder.find("latest", cli.runs_dir)
    assert cli("train", "xor-2-4-1", "--epochs", "1", "-q").exit_code == 0
    assert not stale.exists() and live.is_dir()  # a live process's setup is left alone


# --------------------------------------------------------------------------- 4. latest


def test_latest_is_the_newest_run_with_weights_and_says_what_it_skipped(cli, train_run):
    older = train_run("xor-2-4-1", "--epochs", "1")
    newer = train_run("xor-2-4-1", "--epochs", "1")
    for name in ("weights.npz", "last.npz"):
        (newer / name).unlink()  # as a run still training, or killed before its end
    folder = RunFolder.find("latest", cli.runs_dir)
    assert folder.path == older
    assert folder.note == (
        f"latest: using {older.name}, the newest run with weights; skipped "
        f"{newer.name} (completed, no weights.npz)"
    )
    assert RunFolder.find("latest", cli.runs_dir, need_weights=False).path == newer
    result = cli("predict", "latest", "1,0")
    assert result.exit_code == 0, result.stderr
    assert folder.note in " ".join(result.stderr.split())


def test_latest_is_decided_by_start_time_not_modification_time(cli, train_run):
    older = train_run("xor-2-4-1", "--epochs", "1")
    newer = train_run("xor-2-4-1", "--epochs", "1")
    assert cli("eval", str(older)).exit_code == 0  # writes into the older run
    os.utime(older, (2e9, 2e9))  # and its folder looks the most recently touched
    assert RunFolder.find("latest", cli.runs_dir).path == newer
    assert RunFolder.find("latest", cli.runs_dir).note is None


# --------------------------------------------------------------------------- 4. the lock


@pytest.fixture
def hold_lock():
    """`hold_lock(run)`: another process holding `run`'s training lock, as a training
    process does; killed and waited for when the test ends, however it ends (it would
    otherwise sleep on for a minute holding the lock)."""
    holders: list[subprocess.Popen] = []

    def hold(run: Path) -> subprocess.Popen:
        code = (
            "import sys, time; from pathlib import Path; from dlzero_cli.runs.folder import "
            "RunFolder\n"
            "with RunFolder(Path(sys.argv[1])).lock():\n"
            "    print('locked', flush=True); time.sleep(60)\n"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True
        )
        holders.append(holder)
        assert holder.stdout.readline() == "locked\n"
        return holder

    yield hold
    for holder in holders:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_second_process_cannot_train_the_same_folder(cli, tmp_path, hold_lock):
    with pytest.raises(RunInterrupted) as info:
        train_from_config(small(), cli.runs_dir, StopAfter(1))
    run = info.value.folder.path
    holder = hold_lock(run)
    try:
        result = cli("train", "--resume", str(run), "-q")
        assert result.exit_code == 1
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: {run}: being trained by process {holder.pid} on ")
        assert line.endswith(f"wait for it to finish; stop it with `kill {holder.pid}`")
        with pytest.raises(RunLocked):
            resume_run(RunFolder(run))
    finally:
        holder.kill()
        holder.wait()
    assert summary(run)["status"] == "interrupted"  # the refused resume changed nothing
    # The holder is gone (killed, its lock file left behind): the lock is taken over.
    assert json.loads((run / ".lock").read_text())["pid"] == holder.pid
    assert cli("train", "--resume", str(run), "-q").exit_code == 0


class StopAfter(RunCallbacks):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_done(self, record):
        if record.epoch == self.epoch:
            raise KeyboardInterrupt


# --------------------------------------------------------------------------- 4. resuming


@pytest.mark.parametrize("text", ["{not json", "", '{"name": "x"}'])
def test_a_corrupt_summary_does_not_block_resuming_from_the_checkpoint(tmp_path, whole, text):
    with pytest.raises(RunInterrupted) as info:
        train_from_config(small(), tmp_path, StopAfter(2))
    run = info.value.folder.path
    started = summary(run)["started_at"]
    (run / "summary.json").write_text(text)
    resume_run(RunFolder(run))
    assert_same_run(whole, run)
    assert summary(run)["resumed_from_epoch"] == 2
    assert summary(run)["started_at"][:19] == started[:19]  # from the folder's name


def test_a_deleted_checkpoint_is_refused_unless_restart(cli, tmp_path, whole):
    with pytest.raises(RunInterrupted) as info:
        train_from_config(small(), cli.runs_dir, StopAfter(2))
    run = info.value.folder.path
    (run / "checkpoint.npz").unlink()
    result = cli("train", "--resume", str(run), "-q")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {run / 'checkpoint.npz'}: missing, so the run cannot continue where it "
        f"stopped; to train it again from epoch 1 in the same folder: "
        f"dlzero train --resume {run} --restart\n"
    )
    assert summary(run)["status"] == "interrupted"
    result = cli("train", "--resume", str(run), "--restart", "-q")
    assert result.exit_code == 0, result.stderr
    assert_same_run(whole, run)
    assert cli("train", "xor-2-4-1", "--restart").exit_code == 2  # --restart needs --resume


# --------------------------------------------------------------------------- 8. a crash


def test_a_crash_inside_training_ends_failed_and_resumes_identically(tmp_path, monkeypatch, whole):
    from dlzero_cli.engine.layers import Affine

    real = Affine.forward
    calls = {"epoch": 0, "n": 0}

    class Epochs(RunCallbacks):
        def epoch_started(self, epoch, epochs, steps):
            calls["epoch"] = epoch

    def crash_in_epoch_3(self, x):
        if calls["epoch"] == 3:
            calls["n"] += 1
            if calls["n"] == 5:  # a few steps in: an ordinary bug, not a signal
                raise RuntimeError("a planted bug")
        return real(self, x)

    monkeypatch.setattr(Affine, "forward", crash_in_epoch_3)
    with pytest.raises(RuntimeError, match="a planted bug"):
        train_from_config(small(), tmp_path, Epochs())
    monkeypatch.undo()
    [run] = visible(tmp_path)
    state = summary(run)
    assert state["status"] == "failed"
    assert state["error"] == "RuntimeError: a planted bug"
    assert state["epochs_completed"] == 2
    resume_run(RunFolder(run))
    assert_same_run(whole, run)


# --------------------------------------------------------------------------- 8. run names


@pytest.mark.parametrize(
    "name", ["x/../../escaped", "../escaped", "..", "a b", "/tmp/escaped-abs", "a/b", ".hidden"]
)
def test_run_names_that_could_leave_the_runs_folder_are_refused(cli, tmp_path, name):
    before = set(tmp_path.rglob("*"))
    result = cli("train", "xor-2-4-1", "--epochs", "1", "--name", name, "-q")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "name" in line
    assert set(tmp_path.rglob("*")) == before
    assert not Path("/tmp/escaped-abs").exists()
    # The folder module refuses them too, whatever a caller let through.
    with pytest.raises(RunError, match="no '/', '..' or spaces"):
        RunFolder.create(cli.runs_dir, name)
    with pytest.raises(RunError, match="no '/', '..' or spaces"):
        with RunFolder.staged(cli.runs_dir, name):
            pass
    assert set(tmp_path.rglob("*")) == before


def test_ctrl_c_while_a_run_is_set_up_leaves_nothing(cli, monkeypatch):
    real = RunFolder.write_config

    def write_config_then_ctrl_c(self, config):
        real(self, config)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "write_config", write_config_then_ctrl_c)
    result = cli("train", "xor-2-4-1", "--epochs", "1", "-q")
    assert result.exit_code == 130
    assert result.stderr == "interrupted before training started; nothing was written\n"
    assert list(cli.runs_dir.iterdir()) == []  # not even the hidden partial folder
