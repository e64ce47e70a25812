"""Issue 12, "How it is checked": `dlzero train` killed (SIGKILL) at moments observed in
its runs folder (the partial folder present, the run folder published, an epoch
reached, a file being written), its folder checked at every kill, resumed, and compared
with an uninterrupted run bit for bit. The moments are observed, not guessed from the
clock, so the test kills at the same stages however fast or loaded the machine is."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.runs.formats import read_arrays

# About 2 s of training (checkpoints land about a second apart) after ~1.5 s of start-up;
# the whole test takes ~45 s on a shared 2-core machine.
RUN = ["--limit", "1500", "--epochs", "100", "--set", "train.optimizer.name=adam",
       "--set", "model.dropout=0.2", "-q"]  # fmt: skip
KILLS = 10
# Where each sequence (a new run, resumed after every kill) is killed, in order.
# ("epoch", k): k more epochs in metrics.csv than when the process started.
PLAN = [
    [("partial",), ("published",), ("epoch", 1), ("writing",)],
    [("published",), ("writing",), ("epoch", 1)],
    [("epoch", 1), ("writing",), ("epoch", 1)],
    [("partial",), ("epoch", 1)],
]
DLZERO = [sys.executable, "-m", "dlzero_cli", "train"]


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("weights.npz", "last.npz", "checkpoint.npz"):
        wa, wb = read_arrays(a / name), read_arrays(b / name)
        assert wa.keys() == wb.keys()
        for key in wa:
            if key not in ("architecture", "meta", "history"):
                np.testing.assert_array_equal(wa[key], wb[key], err_msg=f"{name}:{key}")
    assert metrics(a) == metrics(b)
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    assert sa["test"] == sb["test"] and sa["best_epoch"] == sb["best_epoch"]
    assert sb["status"] == "completed" and sb["epochs_completed"] == 100


def check_after_kill(runs: Path) -> Path | None:
    """What a SIGKILL may leave: no run folder (killed while setting up; a hidden partial
    folder at most), or one that can be resumed: config, a checkpoint, a summary that
    says `running` (or `completed`, killed after it finished)."""
    folders = [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.exists() else []
    assert len(folders) <= 1, folders
    if not folders:
        return None
    [run] = folders
    assert (run / "config.yaml").is_file() and (run / "checkpoint.npz").is_file()
    assert status(run) in ("running", "completed"), status(run)
    return run


def checkpoint_epoch(run: Path) -> int:
    return json.loads(str(read_arrays(run / "checkpoint.npz")["meta"]))["epoch"]


def status(run: Path) -> str:
    return json.loads((run / "summary.json").read_text())["status"]


def visible(runs: Path) -> list[Path]:
    return [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.exists() else []


def epochs_written(run: Path) -> int:
    try:
        return len((run / "metrics.csv").read_text().splitlines()) - 1
    except OSError:
        return 0


def observed(moment: tuple, runs: Path, start_epochs: int) -> str | None:
    """What of `moment` the runs folder shows now: its name when reached, "passed" when
    the process is already beyond it (a partial folder that was published before it
    was seen), None when not yet."""
    folders = visible(runs)
    kind = moment[0]
    if kind == "partial":
        if runs.exists() and any(runs.glob(".*.partial")):
            return "partial"
        return "passed" if folders else None
    if not folders:
        return None
    [run] = folders
    if kind == "published":
        return "published"
    if kind == "writing":  # an atomic write in progress: its temporary file
        return "writing" if any(run.glob(".*.tmp")) else None
    return "epoch" if epochs_written(run) >= start_epochs + moment[1] else None


def kill_at(moment: tuple, args: list[str], runs: Path, run: Path | None) -> str | None:
    """Run `dlzero train args` and SIGKILL it at `moment`; what was observed when it was
    killed, or None when it finished first (exit 0)."""
    start_epochs = epochs_written(run) if run else 0
    process = subprocess.Popen(
        [*DLZERO, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None:
            assert time.monotonic() < deadline, f"never reached {moment}"
            seen = observed(moment, runs, start_epochs)
            if seen is not None:
                process.kill()
                process.wait()
                return seen
            time.sleep(0.002)
        err = process.stderr.read()
        assert process.returncode == 0, err  # it finished before the moment came
        return None
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()


@pytest.mark.slow
def test_sigkill_at_observed_moments_resumes_bit_identical(tmp_path):
    whole = tmp_path / "whole"
    done = subprocess.run([*DLZERO, *RUN, "--runs-dir", str(whole)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [reference] = whole.iterdir()

    kills: list[tuple[str, int | None]] = []  # per kill: what was seen, checkpoint epoch
    for number, moments in enumerate(PLAN, start=1):
        runs = tmp_path / f"killed{number}"
        run: Path | None = None
        for moment in [*moments, None]:
            args = ["--resume", str(run), "-q"] if run else [*RUN, "--runs-dir", str(runs)]
            if moment is None:  # the last resume: to the end
                finished = subprocess.run([*DLZERO, *args], capture_output=True, text=True,
                                          timeout=300)  # fmt: skip
                assert finished.returncode == 0, finished.stderr
                run = check_after_kill(runs)
                break
            seen = kill_at(moment, args, runs, run)
            run = check_after_kill(runs)
            if seen is None:  # finished before the moment came: nothing to resume
                break
            kills.append((seen, None if run is None else checkpoint_epoch(run)))
            if run is not None and status(run) == "completed":
                break  # killed after its last write: nothing left to resume
        assert run is not None and status(run) == "completed"
        assert_same_run(reference, run)
        assert not list(runs.glob(".*.partial"))  # a killed set-up is cleaned by the next
    assert len(kills) >= KILLS, kills
    # Killed before the folder existed or at its first checkpoint, and after epochs.
    seen = {what for what, _ in kills}
    assert seen & {"partial", "published"} and "epoch" in seen, kills
    assert any(epoch is not None and epoch >= 1 for what, epoch in kills if what == "epoch")
