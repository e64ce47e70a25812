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

    python benchmarks/bench_sweep.py [--trials 16] [--epochs 150] [--workers 2] [--rounds 2]

Rounds alternate serial and Dask, and the best wall time of each is compared: on a
shared machine a single round varies by tens of percent.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
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
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; best kept")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dlzero-bench-sweep-") as tmp:
        folder = Path(tmp)
        path = folder / "sweep.yaml"
        # The epochs are a grid axis of one value: a base config's setting, in effect.
        text = SWEEP.format(trials=args.trials) + f"  train.epochs: [{args.epochs}]\n"
        path.write_text(text, encoding="utf-8")
        plan = plan_sweep(load_sweep(str(path)))
        n = len(plan.trials)
        load = os.getloadavg()[0]
        print(f"{n} trials of digits 64-50-100-10, {args.epochs} epochs each, {args.rounds} "
              f"alternating rounds; load average {load:.2f} at the start")  # fmt: skip
        serial, dask = [], []
        for round_ in range(args.rounds):
            serial.append(_serial(plan, folder / f"serial-{round_}", path))
            dask.append(_dask(plan, folder / f"dask-{round_}", path, args.workers))
        print(f"load average {os.getloadavg()[0]:.2f} at the end")

    same = all(s.metrics == d.metrics for s, d in zip(serial, dask, strict=True))
    print(f"results identical: {same}")
    for label, rounds in (("serial", serial), (f"dask, {args.workers} workers", dask)):
        walls = ", ".join(f"{r.wall:.1f}" for r in rounds)
        print(f"{label:<16} wall {walls} s; trials train {rounds[0].train / n:.2f}, "
              f"{rounds[-1].train / n:.2f} s on average")  # fmt: skip
    best_serial = min(serial, key=lambda r: r.wall)
    best_dask = min(dask, key=lambda r: r.wall)
    startup = min(r.startup for r in dask)
    print(f"cluster start-up {startup:.1f} s, shutdown {min(r.shutdown for r in dask):.1f} s")
    print(f"speed-up (best against best): {best_serial.wall / best_dask.wall:.2f}x without "
          f"start-up, {best_serial.wall / (best_dask.wall + startup):.2f}x with it")  # fmt: skip
    print(f"per-trial time besides training: serial "
          f"{(best_serial.wall - best_serial.train) / n:.3f} s, dask "
          f"{(args.workers * best_dask.wall - best_dask.train) / n:.3f} s")  # fmt: skip


@dataclass(frozen=True)
class Round:
    wall: float
    train: float  # the trials' training seconds, summed
    metrics: list
    startup: float = 0.0
    shutdown: float = 0.0


def _serial(plan, folder: Path, path: Path) -> Round:
    sweep = start_sweep(plan, folder, 1, str(path))
    started = time.perf_counter()
    report = run_sweep(plan, sweep, SerialExecutor)
    return _round(report, time.perf_counter() - started)


def _dask(plan, folder: Path, path: Path, workers: int) -> Round:
    started = time.perf_counter()
    executor = DaskExecutor.local(workers)
    startup = time.perf_counter() - started
    sweep = start_sweep(plan, folder, 1, str(path))
    started = time.perf_counter()
    report = run_sweep(plan, sweep, lambda: _Kept(executor))
    wall = time.perf_counter() - started
    started = time.perf_counter()
    executor.close()
    shutdown = time.perf_counter() - started
    return _round(report, wall, startup, shutdown)


def _round(report, wall: float, startup: float = 0.0, shutdown: float = 0.0) -> Round:
    train = sum(r.train_seconds for r in report.results)
    return Round(wall, train, [r.metrics for r in report.results], startup, shutdown)


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
