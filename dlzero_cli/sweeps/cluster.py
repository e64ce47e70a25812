"""Trials as tasks on dask.distributed: a LocalCluster started for the sweep, or an
existing cluster's scheduler.

The only module that imports dask; `dlzero sweep` imports it when a sweep runs on
Dask, so nothing else (`dlzero --help`, a serial sweep) pays for it.

Each trial is one task of `trial.run_trial`. Outputs are taken as tasks complete, in
any order; when a worker dies mid-trial the scheduler runs the task again on another
worker (up to distributed's `allowed-failures`), and the sweep still sees one output
per trial.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence

import dask
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, as_completed
from distributed.comm import CommClosedError

from dlzero_cli.errors import DlzeroError, UsageError
from dlzero_cli.sweeps.trial import TrialOutput, TrialTask, run_trial

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
WORKERS_TIMEOUT = 60.0  # seconds for a first worker to join
CLOSE_TIMEOUT = 10.0
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "2s",
}


# What `dask scheduler` prints: a scheme, a host and a port (IPv6 hosts in brackets).
ADDRESS = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")


@contextlib.contextmanager
def _spawned_ignoring_ctrl_c() -> Iterator[None]:
    """Worker processes started in this block ignore Ctrl-C from their first moment: an
    ignored signal stays ignored across exec, and Python then installs no handler of its
    own. (IgnoreCtrlC below comes too late for a Ctrl-C while they import dask, which
    printed a hundred lines of tracebacks.) The price: a Ctrl-C in the second or two
    the workers take to start is lost (blocking SIGINT instead does not reach
    multiprocessing's spawned children); the sweep's own handling takes over after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class IgnoreCtrlC(WorkerPlugin):
    """A LocalCluster's workers share the terminal's process group, so Ctrl-C reaches
    them too: they ignore it, and the sweep, which does not, stops them in order."""

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor:
    """Submits trials to a Dask client; closes what it started."""

    def __init__(self, client: Client, description: str, cluster: LocalCluster | None = None):
        self.client, self.description, self.cluster = client, description, cluster
        self.futures: list = []
        self.closed = False

    @classmethod
    def local(cls, workers: int) -> DaskExecutor:
        """A LocalCluster of `workers` processes with one thread each, on 127.0.0.1, no
        dashboard; its log silenced (task errors come back through their futures).

        Its processes wake up less: no statistical profiler (it samples the training
        thread's stack every 10 ms), event-loop and system checks every second or more
        rather than every 20-500 ms. Each wake-up takes the GIL from the training thread;
        measured on 2 cores, digits trials trained 10-20% slower with Dask's defaults.
        """
        with dask.config.set(QUIET_WORKERS), _spawned_ignoring_ctrl_c():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
        try:
            client = Client(cluster, timeout=CONNECT_TIMEOUT)
            client.register_plugin(IgnoreCtrlC())
        except BaseException:
            cluster.close(timeout=CLOSE_TIMEOUT)
            raise
        return cls(client, f"LocalCluster of {workers} worker processes", cluster)

    @classmethod
    def connect(cls, address: str) -> DaskExecutor:
        """A client of the scheduler at `address` (tcp://HOST:PORT), once a worker is there."""
        if not ADDRESS.fullmatch(address):
            raise UsageError(
                f"--scheduler {address}: not a scheduler address; give tcp://HOST:PORT, as "
                "`dask scheduler` prints it (e.g. tcp://10.0.0.5:8786)"
            )
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise DlzeroError(
                f"--scheduler {address}: cannot reach a Dask scheduler there ({exc}); start "
                f"one with `dask scheduler` and its workers with `dask worker {address}`"
            ) from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            client.close(timeout=CLOSE_TIMEOUT)
            raise DlzeroError(
                f"--scheduler {address}: no worker joined within {WORKERS_TIMEOUT:.0f} s; "
                f"start one with `dask worker {address}`"
            ) from None
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        return cls(client, f"{address} ({workers} workers)")

    def run(self, tasks: Sequence[TrialTask]) -> Iterator[TrialOutput]:
        # Keys unique to this sweep run: a long-lived cluster must never hand back a
        # result it kept from another sweep's trial of the same number.
        token = uuid.uuid4().hex[:12]
        self.futures = [
            self.client.submit(
                run_trial, task, key=f"dlzero-trial-{token}-{task.index:04d}", pure=False
            )  # fmt: skip
            for task in tasks
        ]
        for future in as_completed(self.futures):
            try:
                output = future.result()
            except KilledWorker as exc:
                index = int(str(future.key).rsplit("-", 1)[1])
                raise DlzeroError(
                    f"trial {index}: {exc.allowed_failures + 1} workers died running it (last "
                    f"{getattr(exc.last_worker, 'address', exc.last_worker)}); a trial that "
                    "runs out of memory does this: give workers more, or run fewer per machine"
                ) from None
            except (CommClosedError, OSError) as exc:
                raise DlzeroError(f"lost the Dask scheduler: {exc}") from None
            future.release()  # the files leave the worker's memory
            yield output

    def close(self) -> None:
        """Cancel what is still queued, then disconnect (and stop a LocalCluster); once."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.futures:
                self.client.cancel(self.futures)
            self.client.close(timeout=CLOSE_TIMEOUT)
        finally:
            if self.cluster is not None:
                self.cluster.close(timeout=CLOSE_TIMEOUT)
