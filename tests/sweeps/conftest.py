"""Sweep fixtures: small digits sweeps, a reference run of one, and a real Dask cluster
(`dask scheduler` and `dask worker` processes on 127.0.0.1, free ports, killed by PID)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A base config that trains in a blink: 300 digits, a few epochs.
BASE = """\
name: tiny-digits
seed: 0
data: {dataset: digits, validation: 0.1, limit: 300}
model: {layers: 64-30-10, activation: sigmoid, init: xavier}
train:
  epochs: EPOCHS
  batch_size: 50
  optimizer: {name: sgd, lr: 0.5}
"""

# 2 grid points x 3 random draws = 6 trials.
SWEEP = """\
base: base.yaml
name: tiny
metric: val_accuracy
trials: 3
seed: 7
space:
  train.optimizer.lr: {loguniform: [0.05, 2.0]}
  model.activation: [sigmoid, relu]
"""

DASK = Path(sys.executable).parent / "dask"
WAIT = 60.0  # seconds: the longest any test waits for a process or a file


@pytest.fixture
def make_sweep(tmp_path: Path):
    """`make_sweep(text=SWEEP, epochs=4, folder=tmp_path)`: a sweep file beside its
    base.yaml (the tiny digits config); returns the sweep file's path."""

    def make(text: str = SWEEP, epochs: int = 4, folder: Path = tmp_path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "base.yaml").write_text(BASE.replace("EPOCHS", str(epochs)), encoding="utf-8")
        path = folder / "sweep.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return make


def _read_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "sweep.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def sweep_rows():
    """`sweep_rows(sweep_folder)`: sweep.csv's rows without the timing column (the rest
    must be identical wherever the trials ran)."""

    def rows(folder: Path) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in _read_rows(folder)]

    return rows


@pytest.fixture(scope="session")
def reference_rows(tmp_path_factory):
    """The 6-trial tiny sweep run serially in this process: sweep.csv's rows (timing
    column dropped), the yardstick for every other way of running it."""
    from dlzero_cli.sweeps.execution import SerialExecutor, run_sweep, start_sweep
    from dlzero_cli.sweeps.spec import load_sweep, plan_sweep

    folder = tmp_path_factory.mktemp("reference")
    (folder / "base.yaml").write_text(BASE.replace("EPOCHS", "4"), encoding="utf-8")
    (folder / "sweep.yaml").write_text(SWEEP, encoding="utf-8")
    plan = plan_sweep(load_sweep(str(folder / "sweep.yaml")))
    sweep = start_sweep(plan, folder / "runs", 1, "sweep.yaml")
    run_sweep(plan, sweep, SerialExecutor)
    return [{k: v for k, v in r.items() if k != "train_seconds"} for r in _read_rows(sweep.path)]


@pytest.fixture
def only_sweep_folder():
    """`only_sweep_folder(runs_dir)`: the one folder in runs_dir (asserting there is one)."""

    def find(runs_dir: Path) -> Path:
        folders = [p for p in runs_dir.iterdir() if p.is_dir()]
        assert len(folders) == 1, folders
        return folders[0]

    return find


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class DaskCluster:
    """A scheduler and workers started with Dask's own commands; stopped by PID."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []

    def _start(self, *args: str) -> subprocess.Popen:
        with open(self.folder / f"dask-{len(self.processes)}.log", "wb") as log:
            # The test's folder as the processes' temp folder: a worker killed mid-trial
            # cannot clean up its trial's folder, and /tmp must not collect them.
            env = {**os.environ, "TMPDIR": str(self.folder)}
            process = subprocess.Popen(
                [str(DASK), *args],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.processes.append(process)
        return process

    def start(self, workers: int = 2, nanny: bool = True) -> None:
        port = self.address.rsplit(":", 1)[1]
        self._start("scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")
        for _ in range(workers):
            options = [] if nanny else ["--no-nanny"]
            self.workers.append(self._start(
                "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--host",
                "127.0.0.1", "--no-dashboard", "--local-directory", str(self.folder / "space"),
                *options,
            ))  # fmt: skip
        self.wait_for_workers(workers)

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=WAIT)

    def wait_for_workers(self, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while True:  # the scheduler may not be listening yet
            try:
                with self.client() as client:
                    client.wait_for_workers(count, timeout=WAIT)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes):
            _stop(process)


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """`dask_cluster(workers=2, nanny=True)`: a running DaskCluster (scheduler + workers
    on 127.0.0.1, free ports, one thread each, no dashboard), stopped at teardown."""
    clusters: list[DaskCluster] = []

    def start(workers: int = 2, nanny: bool = True) -> DaskCluster:
        cluster = DaskCluster(tmp_path / f"cluster-{len(clusters)}")
        cluster.folder.mkdir()
        clusters.append(cluster)
        cluster.start(workers, nanny)
        return cluster

    try:
        yield start
    finally:
        for cluster in clusters:
            cluster.stop()


@pytest.fixture
def dlzero_process():
    """`dlzero_process(*args, cwd=...)`: `dlzero ARGS` as a subprocess (stdout and stderr
    piped), killed at teardown if still running."""
    started: list[subprocess.Popen] = []

    def start(*args: str, cwd: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlzero_cli", *args], cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
