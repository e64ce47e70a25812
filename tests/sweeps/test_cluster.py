"""Sweeps on a real Dask cluster started with Dask's own commands (`dask scheduler`,
`dask worker`) on 127.0.0.1: the same results as serially, and every trial exactly once
when a worker dies mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

WAIT = 90.0


@pytest.mark.slow
def test_a_sweep_on_an_existing_cluster_gives_the_serial_results(
    make_sweep, tmp_path, dask_cluster, sweep_rows, reference_rows, only_sweep_folder
):
    cluster = dask_cluster(workers=2)
    runs = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "sweep", str(make_sweep()), "--scheduler",
         cluster.address, "--runs-dir", str(runs)],
        cwd=tmp_path, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    folder = only_sweep_folder(runs)
    assert sweep_rows(folder) == reference_rows
    document = json.loads((folder / "sweep.json").read_text())
    assert document["execution"] == f"{cluster.address} (2 workers)"
    assert f"on {cluster.address} (2 workers)" in result.stdout


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_leaves_every_trial_there_once(
    make_sweep, tmp_path, dask_cluster, dlzero_process, sweep_rows, only_sweep_folder
):
    # Workers without a nanny: SIGKILL on the PID kills the worker itself, for good.
    cluster = dask_cluster(workers=2, nanny=False)
    victim = cluster.workers[0]
    with cluster.client() as client:
        [address] = [a for a, pid in client.run(os.getpid).items() if pid == victim.pid]
        runs = tmp_path / "runs"
        process = dlzero_process(
            "sweep", str(make_sweep(epochs=40)), "--scheduler", cluster.address, "--runs-dir",
            str(runs), cwd=tmp_path,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT
        # Until a trial has landed and the victim is training another one.
        while not (list(runs.glob("*/trials/trial-*")) and client.processing()[address]):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sweep did not get going in time"
            time.sleep(0.02)
    landed = len(list(runs.glob("*/trials/trial-*")))
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=WAIT) == -signal.SIGKILL
    assert landed < 6  # killed mid-sweep, in the middle of a trial
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    folder = only_sweep_folder(runs)
    trials = sorted(p.name for p in (folder / "trials").iterdir())
    assert trials == [f"trial-{i:04d}" for i in range(6)]  # no hidden leftovers either
    rows = sweep_rows(folder)
    assert [int(r["trial"]) for r in rows] == list(range(6))
    assert all(r["status"] == "completed" for r in rows)
    assert json.loads((folder / "sweep.json").read_text())["completed"] == 6
