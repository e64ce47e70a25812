"""One trial, trained wherever it is sent: in this process, or as a Dask task on a
worker of another machine.

`run_trial` is what Dask ships; it is a top-level function, so it pickles by reference
(a worker needs dlzero installed, not this process's memory). It needs no shared disk:
the trial trains into a temporary folder of the worker's, and the run's files come
back as bytes in the `TrialOutput`, for the sweep to write into its own folder.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
import time
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dlzero_cli.config.loading import LoadedConfig
from dlzero_cli.config.rules import validate
from dlzero_cli.config.source import ConfigSource
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.download import DownloadEvents
from dlzero_cli.data.remote import download_missing
from dlzero_cli.errors import DlzeroError, DlzeroWarning, TrainingDiverged
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.lifecycle import TrainResult, train_from_config


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to train trial `index`: plain data only."""

    index: int
    name: str  # the trial's run name, for error lines
    config: dict[str, Any]  # the validated config, as a run's config.yaml holds it
    threads: int  # BLAS threads: results depend on the count, so it is part of the trial
    data_dir: str | None  # used when it exists where the trial runs


@dataclass(frozen=True)
class TrialOutput:
    """What comes back: the run's status and files, or why it could not run."""

    index: int
    status: str  # completed | diverged | failed
    files: dict[str, bytes]  # the run folder's files by name (empty when failed)
    seconds: float  # wall time of the task on the worker, set-up included
    host: str
    error: str | None = None  # diverged: what happened; failed: the one-line error
    exit_code: int = 0  # failed: the DlzeroError's exit code
    warnings: tuple[str, ...] = ()  # each distinct DlzeroWarning the trial raised, in order


def train_run(
    loaded: LoadedConfig, runs_dir: Path, data_dir: Path | None, threads: int
) -> TrainResult:
    """Train `loaded` into a new run under `runs_dir` with `threads` BLAS threads (the
    count is part of the trial and recorded in the run's manifest)."""
    return train_from_config(loaded, runs_dir, None, data_dir, threads=threads)


def run_trial(task: TrialTask) -> TrialOutput:
    """Train one trial in a temporary folder and hand back its files.

    A diverged trial is an outcome like any other; a DlzeroError (a dataset that cannot
    be fetched, ...) comes back as `failed` with its line. A missing dataset is fetched
    as `dlzero download` does, one worker of a machine at a time. The DlzeroWarnings
    the trial raises come back with it (`warnings`): in a Dask worker nobody would see
    them, so the sweep raises them again where the CLI shows them.
    """
    caught: list[warnings.WarningMessage] = []
    output = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DlzeroWarning)
            output = _run_trial(task)
    finally:
        # Other warnings, and every one when the trial raised (a bug, Ctrl-C), go on
        # here as they would have without the recording.
        for w in caught:
            if output is None or not issubclass(w.category, DlzeroWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    lines = [str(w.message) for w in caught if issubclass(w.category, DlzeroWarning)]
    return replace(output, warnings=tuple(dict.fromkeys(lines)))


def _run_trial(task: TrialTask) -> TrialOutput:
    started = time.perf_counter()
    host = socket.gethostname()
    try:
        loaded = _loaded(task)
        data_dir = _data_dir(task.data_dir)
        dataset = loaded.config.data.dataset
        if not DATASETS.get(dataset).is_available(data_dir):
            with _machine_lock(host):
                download_missing(dataset, data_dir, DownloadEvents())
        with tempfile.TemporaryDirectory(prefix="dlzero-trial-") as tmp:
            status, error = "completed", None
            try:
                train_run(loaded, Path(tmp), data_dir, task.threads)
            except TrainingDiverged as exc:
                status, error = "diverged", exc.detail
            [listing] = RunFolder.all(Path(tmp))
            files = listing.folder.files()
    except DlzeroError as exc:
        elapsed = time.perf_counter() - started
        return TrialOutput(task.index, "failed", {}, elapsed, host, str(exc), exc.exit_code)
    return TrialOutput(task.index, status, files, time.perf_counter() - started, host, error)


def _loaded(task: TrialTask) -> LoadedConfig:
    source = ConfigSource(task.name)  # validated before: errors here would be bugs
    return LoadedConfig(validate(dict(task.config), source), source)


def _machine_lock(host: str) -> AbstractContextManager[Any]:
    """In a Dask worker, a cluster-wide lock per machine (its workers share a data
    folder, and two downloads of one file must not race); elsewhere, none."""
    distributed = sys.modules.get("distributed")  # never imported here for a serial sweep
    if distributed is None:
        return contextlib.nullcontext()
    try:
        distributed.get_worker()
    except ValueError:  # not inside a worker
        return contextlib.nullcontext()
    return distributed.Lock(f"dlzero-download-{host}")


def _data_dir(given: str | None) -> Path | None:
    """The sweep's --data-dir when it exists here; otherwise this machine's default."""
    if given is not None and Path(given).is_dir():
        return Path(given)
    return None
