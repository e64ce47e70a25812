"""A 16-trial digits sweep, serially in this process against a LocalCluster of 2 Dask
workers: wall times, the speed-up, and what Dask costs per trial.

Every trial is the default digits network (64-50-100-10, sigmoid, SGD, batch 32) with a
learning rate drawn log-uniformly; the same trials run both ways (identical results).

- speed-up: serial wall time / Dask wall time, with and without starting the cluster;
- per-trial overhead: (workers x Dask wall - sum of the trials' training seconds) / trials,
  the time a worker spends on a trial besides training it (validating the config, loading
  the data, plotting curves.png, shipping the files back, writing them, scheduling); the
  same figure for the serial sweep, (wall - sum of training seconds) / trials, is the
  part that is not Dask's;
- the cluster's start-up and shutdown, separately.

    python benchmarks/bench_sweep.py [--trials 16] [--epochs 150] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dlzero_cli.sweeps.cluster import DaskExecutor
from dlzero_cli.sweeps.execution import SerialExecutor, run_sweep, start_sweep
from dlzero_cli.sweeps.spec import load_sweep, plan_sweep

SWEEP = """\
base: digits-64-50-100-10
name: bench
metric: val_accuracy
trials: {trials}
seed: 0
space:
  train.optimizer.lr: {{loguniform: [0.1, 2.0]}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dlzero-bench-sweep-") as tmp:
        folder = Path(tmp)
        path = folder / "sweep.yaml"
        # The epochs are a grid axis of one value: a base config's setting, in effect.
        text = SWEEP.format(trials=args.trials) + f"  train.epochs: [{args.epochs}]\n"
        path.write_text(text, encoding="utf-8")
        plan = plan_sweep(load_sweep(str(path)))
        print(f"{len(plan.trials)} trials of digits 64-50-100-10, {args.epochs} epochs each; "
              f"load average {os.getloadavg()[0]:.2f} at the start")  # fmt: skip

        serial_folder = start_sweep(plan, folder / "serial", 1, str(path))
        started = time.perf_counter()
        serial = run_sweep(plan, serial_folder, SerialExecutor)
        serial_wall = time.perf_counter() - started

        started = time.perf_counter()
        executor = DaskExecutor.local(args.workers)
        startup = time.perf_counter() - started
        dask_folder = start_sweep(plan, folder / "dask", 1, str(path))
        started = time.perf_counter()
        dask = run_sweep(plan, dask_folder, lambda: _Kept(executor))
        dask_wall = time.perf_counter() - started
        started = time.perf_counter()
        executor.close()
        shutdown = time.perf_counter() - started

    same = [r.metrics for r in serial.results] == [r.metrics for r in dask.results]
    serial_train = sum(r.train_seconds for r in serial.results)
    dask_train = sum(r.train_seconds for r in dask.results)
    n = len(plan.trials)
    print(f"results identical: {same}")
    print(f"serial:          {serial_wall:6.1f} s wall, trials train {serial_train:6.1f} s "
          f"(mean {serial_train / n:.2f} s)")  # fmt: skip
    print(f"dask, {args.workers} workers: {dask_wall:6.1f} s wall, trials train "
          f"{dask_train:6.1f} s (mean {dask_train / n:.2f} s)")  # fmt: skip
    print(f"cluster start-up {startup:.1f} s, shutdown {shutdown:.1f} s")
    print(f"speed-up: {serial_wall / dask_wall:.2f}x without start-up, "
          f"{serial_wall / (dask_wall + startup):.2f}x with it")  # fmt: skip
    print(f"per-trial time besides training: serial {(serial_wall - serial_train) / n:.3f} s, "
          f"dask {(args.workers * dask_wall - dask_train) / n:.3f} s")  # fmt: skip


class _Kept:
    """The started executor, handed to run_sweep without being closed by it (the
    benchmark times start-up and shutdown separately)."""

    def __init__(self, executor: DaskExecutor) -> None:
        self.executor, self.description = executor, executor.description

    def run(self, tasks):
        return self.executor.run(tasks)

    def close(self) -> None:
        pass


if __name__ == "__main__":
    main()
