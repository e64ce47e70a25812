"""Partial folders: locked from the moment they have their name, judged stale by their
lock (not by a PID), removed by the next folder set up beside them, for runs and for
a sweep's trials alike."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.runs import staging
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.lifecycle import train_from_config


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def lock_holder():
    """`lock_holder(folder)`: another process holding `folder`'s lock until the test ends."""
    holders: list[subprocess.Popen] = []

    def hold(folder: Path) -> subprocess.Popen:
        code = (
            "import sys, time; from pathlib import Path\n"
            "from dlzero_cli.runs.staging import held_lock\n"
            "with held_lock(Path(sys.argv[1])):\n"
            "    print('locked', flush=True); time.sleep(60)\n"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
        )
        holders.append(holder)
        assert holder.stdout.readline() == "locked\n"
        return holder

    yield hold
    for holder in holders:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def partial(parent: Path, pid: int, lock: bool = True, tag: str = "abc") -> Path:
    path = parent / f".20200101T000000Z-xor-2-4-1.{pid}-{tag}.partial"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("name: x\n")
    if lock:
        (path / ".lock").write_text("")
    return path


def test_a_partial_folder_is_stale_by_its_lock_not_by_its_pid(tmp_path, lock_holder):
    # Its name's PID is gone, but a live process holds its lock: left alone.
    held = partial(tmp_path, dead_pid())
    lock_holder(held)
    # Its name's PID is alive (this process), but nobody holds its lock: stale.
    free = partial(tmp_path, os.getpid(), tag="def")
    staging.remove_stale_partials(tmp_path)
    assert held.is_dir() and not free.exists()


def test_a_partial_folder_holds_its_lock_while_it_is_set_up(tmp_path, monkeypatch):
    real = RunFolder.publish
    seen = {}

    def publish(self):
        seen["free"] = staging._lock_is_free(self.path)
        return real(self)

    monkeypatch.setattr(RunFolder, "publish", publish)
    run = train_from_config(load_config("xor-2-4-1", ["train.epochs=1"]), tmp_path).folder
    assert seen["free"] is False
    assert staging._lock_is_free(run.path) is True  # released when training ended
    assert [p.name for p in tmp_path.iterdir()] == [run.name]


def test_a_sweeps_trial_leaves_no_hidden_folder_and_clears_stale_ones(tmp_path):
    trials = tmp_path / "trials"
    stale = partial(trials, os.getpid())  # the lock is free: its writer is gone
    old_style = trials / f".trial-0001.{dead_pid()}-xyz.setup"
    old_style.mkdir()
    landed = RunFolder.materialize(trials / "trial-0000", {"summary.json": b"{}"})
    assert landed is not None and landed.files() == {"summary.json": b"{}"}
    assert [p.name for p in trials.iterdir()] == ["trial-0000"]
    assert not stale.exists() and not old_style.exists()
    assert RunFolder.materialize(trials / "trial-0000", {"summary.json": b"x"}) is None
    assert [p.name for p in trials.iterdir()] == ["trial-0000"]


def test_one_liveness_rule(tmp_path):
    assert staging.process_alive(os.getpid(), socket.gethostname()) is True
    assert staging.process_alive(dead_pid(), socket.gethostname()) is False
    assert staging.process_alive(dead_pid(), "another-host") is True


# --------------------------------------------------------------------------- durability


@pytest.fixture
def synced_folders(monkeypatch) -> list[Path]:
    """The folders os.fsync is called on (a rename is durable once its folder is)."""
    import stat

    real = os.fsync
    folders: list[Path] = []

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            folders.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return folders


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_durable_write_syncs_its_folder_after_the_rename(tmp_path, synced_folders):
    from dlzero_cli.atomic import write_arrays, write_text

    write_text(tmp_path / "a.txt", "x")
    assert synced_folders == [tmp_path]
    write_arrays(tmp_path / "c.npz", {}, durable=False)  # the checkpoint: not synced
    assert synced_folders == [tmp_path]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_publishing_a_run_folder_syncs_the_runs_folder(tmp_path, synced_folders):
    landed = RunFolder.materialize(tmp_path / "trial-0000", {"summary.json": b"{}"})
    assert landed is not None and tmp_path in synced_folders
