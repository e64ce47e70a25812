"""Does a run still hold what it recorded, and does it reproduce?

`verify_files` rechecks every SHA-256 of the run's manifest. `rerun_run` trains the
run's config.yaml again (same seed, same BLAS thread count) in a temporary folder and
compares it with the run: every metrics column but `seconds`, and every array of the
weight files, bit for bit. It also says whether the environment (Python, NumPy, dlzero,
the BLAS library, its version and threads) or the dataset's arrays differ from the
recorded ones, since those can legitimately change the last bits.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from dlzero_cli.errors import RunError, TrainingDiverged
from dlzero_cli.runs.documents import Manifest
from dlzero_cli.runs.folder import LAST_FILE, WEIGHTS_FILE, RunFolder
from dlzero_cli.runs.lifecycle import RunCallbacks, train_from_config
from dlzero_cli.training import EpochRecord

REPRODUCIBLE = ("completed", "diverged")


@dataclass(frozen=True)
class FileCheck:
    name: str  # the run file, e.g. weights.npz
    status: str  # ok, differs or missing
    expected: str  # the recorded SHA-256
    actual: str | None  # now; None when the file is missing


@dataclass(frozen=True)
class Verification:
    folder: RunFolder
    manifest: Manifest
    checks: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.status == "ok" for check in self.checks)


def verify_files(folder: RunFolder) -> Verification:
    """Each file of `folder`'s manifest against its recorded SHA-256; RunError (one
    line) when the run has no manifest."""
    manifest = folder.read_manifest()
    checks = []
    for name, expected in manifest.files.items():
        actual = folder.file_digest(name)
        status = "missing" if actual is None else "ok" if actual == expected else "differs"
        checks.append(FileCheck(name, status, expected, actual))
    return Verification(folder, manifest, tuple(checks))


# --------------------------------------------------------------------------- rerun


@dataclass(frozen=True)
class MetricDifference:
    """The first epoch (and column) where the rerun's metrics differ from the run's."""

    epoch: int
    column: str  # a metrics column, or "epochs" when one has epochs the other lacks
    recorded: float | int | None
    rerun: float | int | None


@dataclass(frozen=True)
class WeightCheck:
    """One weight file of the rerun against the run's: its first differing array."""

    file: str  # weights.npz or last.npz
    arrays: int  # how many arrays the run's file holds
    array: str | None = None  # the first that differs ("param/0.W"); None: identical
    note: str = ""  # how it differs: values, shape, dtype, missing
    max_abs_diff: float | None = None


@dataclass(frozen=True)
class Rerun:
    folder: RunFolder
    threads: int | None  # the BLAS threads the rerun was given
    epochs_recorded: int
    epochs_rerun: int
    metrics: MetricDifference | None  # the first difference; None: identical
    weights: tuple[WeightCheck, ...]
    environment_changes: tuple[str, ...]  # "numpy 2.4.6 -> 2.5.0", ...; () when the same
    environment_text: str  # the rerun's environment in one line
    data_changes: tuple[str, ...]  # the splits whose arrays differ from the recorded ones
    kept: Path | None  # the rerun's folder when kept

    @property
    def ok(self) -> bool:
        return self.metrics is None and all(w.array is None for w in self.weights)


def rerun_run(
    folder: RunFolder,
    data_dir: Path | None = None,
    keep: bool = False,
    callbacks: RunCallbacks | None = None,
) -> Rerun:
    """Train `folder`'s config again with its seed and recorded BLAS threads in a
    temporary folder (removed afterwards unless `keep`) and compare."""
    manifest = folder.read_manifest()
    summary = folder.read_summary()
    if summary.status not in REPRODUCIBLE:
        raise RunError(
            f"{folder.path}: status is {summary.status!r}; only a run that trained to its "
            f"end ({' or '.join(REPRODUCIBLE)}) can be rerun and compared"
        )
    loaded = folder.read_config()
    recorded_env = manifest.environment
    threads = recorded_env.threads_requested or recorded_env.threads
    workdir = Path(tempfile.mkdtemp(prefix="dlzero-rerun-"))
    try:
        try:
            again = train_from_config(loaded, workdir, callbacks, data_dir, threads).folder
        except TrainingDiverged:
            [listing] = RunFolder.all(workdir)  # the run reproduces its divergence
            again = listing.folder
        return _compare(folder, manifest, again, threads, workdir if keep else None)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _compare(
    folder: RunFolder, manifest: Manifest, again: RunFolder, threads: int | None, kept
) -> Rerun:
    recorded, rerun = folder.read_metrics(), again.read_metrics()
    new = again.read_manifest()
    env = new.environment
    blas = ", ".join(f"{b.internal_api} {b.version or '?'}" for b in env.blas) or "no BLAS"
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items())
    return Rerun(
        folder=folder,
        threads=threads,
        epochs_recorded=len(recorded),
        epochs_rerun=len(rerun),
        metrics=first_metric_difference(recorded, rerun),
        weights=tuple(
            compare_arrays(name, folder.read_weight_arrays(last), again.read_weight_arrays(last))
            for name, last in ((WEIGHTS_FILE, False), (LAST_FILE, True))
        ),
        environment_changes=tuple(env.differences(manifest.environment)),
        environment_text=f"{versions}, {blas}, {threads_text(env.threads)}",
        data_changes=tuple(
            split
            for split in sorted(set(manifest.splits) | set(new.splits))
            if manifest.splits.get(split) != new.splits.get(split)
        ),
        kept=kept,
    )


def threads_text(threads: int | None) -> str:
    return "default threads" if threads is None else f"{threads} thread" + "s"[threads == 1 :]


COMPARED_COLUMNS = tuple(f.name for f in fields(EpochRecord) if f.name != "seconds")


def first_metric_difference(
    recorded: list[EpochRecord], rerun: list[EpochRecord]
) -> MetricDifference | None:
    """The first (epoch, column) whose values are not bit-identical; `seconds` aside."""
    for a, b in zip(recorded, rerun, strict=False):
        for column in COMPARED_COLUMNS:
            x, y = getattr(a, column), getattr(b, column)
            if not _same_number(x, y):
                return MetricDifference(a.epoch, column, x, y)
    if len(recorded) != len(rerun):
        epoch = min(len(recorded), len(rerun)) + 1
        return MetricDifference(epoch, "epochs", len(recorded), len(rerun))
    return None


def _same_number(x: float | int | None, y: float | int | None) -> bool:
    if x is None or y is None:
        return x is y
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def compare_arrays(
    name: str, recorded: dict[str, np.ndarray], rerun: dict[str, np.ndarray]
) -> WeightCheck:
    """The first array (in the run's file order) that is not bit-identical in `rerun`."""
    for key, a in recorded.items():
        b = rerun.get(key)
        if b is None:
            return WeightCheck(name, len(recorded), key, "missing in the rerun")
        if a.dtype != b.dtype:
            return WeightCheck(name, len(recorded), key, f"dtype {a.dtype} vs {b.dtype}")
        if a.shape != b.shape:
            return WeightCheck(name, len(recorded), key, f"shape {a.shape} vs {b.shape}")
        if a.tobytes() != b.tobytes():
            diff = None
            if np.issubdtype(a.dtype, np.number):
                diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            return WeightCheck(name, len(recorded), key, "values differ", diff)
    extra = sorted(set(rerun) - set(recorded))
    if extra:
        return WeightCheck(name, len(recorded), extra[0], "only in the rerun")
    return WeightCheck(name, len(recorded))
