"""Issue 12, "How it is checked": `dlzero train` killed (SIGKILL) at seeded random
moments, its folder checked at every kill, resumed, and compared with an uninterrupted
run bit for bit."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.runs.formats import read_arrays

# About 2 s of training (checkpoints land about a second apart) after ~1.5 s of start-up;
# the whole test takes ~45 s on a shared 2-core machine.
RUN = ["--limit", "1500", "--epochs", "100", "--set", "train.optimizer.name=adam",
       "--set", "model.dropout=0.2", "-q"]  # fmt: skip
KILLS = 10
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


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_bit_identical(tmp_path):
    whole = tmp_path / "whole"
    done = subprocess.run([*DLZERO, *RUN, "--runs-dir", str(whole)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [reference] = whole.iterdir()

    rng = random.Random(12)
    seen: list[int | None] = []  # per kill: the checkpoint's epoch, None: no folder
    kills, sequences, attempts = 0, 0, 0
    while kills < KILLS:
        sequences += 1
        runs = tmp_path / f"killed{sequences}"
        run: Path | None = None
        while True:
            attempts += 1
            assert attempts < 80, "the killed runs never got to the end"
            args = ["--resume", str(run), "-q"] if run else [*RUN, "--runs-dir", str(runs)]
            process = subprocess.Popen(
                [*DLZERO, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            try:
                _, err = process.communicate(timeout=rng.uniform(0.2, 5.0))
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                kills += 1
                run = check_after_kill(runs)
                seen.append(None if run is None else checkpoint_epoch(run))
                if run is not None and status(run) == "completed":
                    break  # killed after its last write: nothing left to resume
                continue
            assert process.returncode == 0, err  # it finished before its kill
            run = check_after_kill(runs)
            assert run is not None
            break
        assert status(run) == "completed"
        assert_same_run(reference, run)
        assert not list(runs.glob(".*.partial"))  # a killed set-up is cleaned by the next
    # The kills came at different moments: before the folder existed, at epoch 0,
    # between epochs, after the last (the exact mix depends on the machine's speed).
    assert len(set(seen)) >= 2, seen
