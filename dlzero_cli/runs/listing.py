"""Many runs at a glance: one row per run folder (from summaries only), and one run in
detail (its config, summary, manifest and last epochs).

`list_runs` reads nothing but each folder's summary.json, so a thousand runs list in a
fraction of a second; a folder whose summary is missing or corrupt is a row with the
reason, never an exception.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlzero_cli.engine.registry import did_you_mean
from dlzero_cli.errors import DlzeroError, UsageError
from dlzero_cli.runs.documents import Manifest, Summary
from dlzero_cli.runs.folder import RunFolder, RunListing
from dlzero_cli.training import EpochRecord

STATUSES = (
    "completed", "interrupted", "diverged", "failed", "imported", "running", "stopped",
    "unreadable", "sweep",
)  # fmt: skip


@dataclass(frozen=True)
class RunRow:
    """What `dlzero runs list` shows of one run folder; None where the summary has no
    such field (older runs, imported runs) or could not be read."""

    run: str  # the folder's name: what `runs show`, `eval`, `compare` take
    path: Path
    name: str | None  # the config's name
    started: str | None  # ISO 8601, UTC
    status: str  # one of STATUSES
    dataset: str | None
    layers: str | None
    epochs: int | None  # completed epochs
    best_val_acc: float | None
    test_acc: float | None
    wall_seconds: float | None
    problem: str | None = None  # why an unreadable folder could not be read

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run, "path": str(self.path), "name": self.name,
            "started": self.started, "status": self.status, "dataset": self.dataset,
            "layers": self.layers, "epochs": self.epochs, "best_val_acc": self.best_val_acc,
            "test_acc": self.test_acc, "wall_seconds": self.wall_seconds,
            "problem": self.problem,
        }  # fmt: skip


def row_of(listing: RunListing) -> RunRow:
    folder, summary = listing.folder, listing.summary
    if summary is None:
        return RunRow(
            folder.name, folder.path, None, None, listing.status, None, None, None, None, None,
            None, listing.problem,
        )  # fmt: skip
    outcome = summary.outcome
    return RunRow(
        run=folder.name,
        path=folder.path,
        name=summary.name,
        started=summary.started_at,
        status=listing.status,
        dataset=summary.dataset,
        layers=summary.layers,
        epochs=None if outcome is None else outcome.epochs_completed,
        best_val_acc=None if outcome is None else outcome.best_val_acc,
        test_acc=None if summary.test is None else summary.test.accuracy,
        wall_seconds=None if outcome is None else outcome.wall_seconds,
    )


# Sort keys: the row's fields. Accuracies sort best first, everything else ascending;
# a missing value always sorts last.
SORT_KEYS: dict[str, tuple[Callable[[RunRow], Any], bool]] = {
    "name": (lambda r: r.run, False),
    "started": (lambda r: r.started, False),
    "status": (lambda r: r.status, False),
    "dataset": (lambda r: r.dataset, False),
    "layers": (lambda r: r.layers, False),
    "epochs": (lambda r: r.epochs, False),
    "best_val_acc": (lambda r: r.best_val_acc, True),
    "test_acc": (lambda r: r.test_acc, True),
    "wall": (lambda r: r.wall_seconds, False),
}


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    dataset: str | None = None
    name: str | None = None  # a glob over the folder's name or the config's name

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise UsageError(
                f"--status: unknown status {self.status!r}; choose one of "
                f"{', '.join(STATUSES)}{did_you_mean(self.status, STATUSES)}"
            )

    def keeps(self, row: RunRow) -> bool:
        if self.status is not None and row.status != self.status:
            return False
        if self.dataset is not None and row.dataset != self.dataset:
            return False
        if self.name is not None:
            names = [row.run] + ([row.name] if row.name else [])
            return any(fnmatch.fnmatchcase(n, self.name) for n in names)
        return True


def check_sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise UsageError(
            f"--sort: unknown key {key!r}; choose one of {', '.join(SORT_KEYS)}"
            f"{did_you_mean(key, list(SORT_KEYS))}"
        )
    return key


def sort_rows(rows: list[RunRow], key: str, reverse: bool = False) -> list[RunRow]:
    """Rows by `key` (best first for accuracies); missing values last either way."""
    value_of, best_first = SORT_KEYS[check_sort_key(key)]
    present = [r for r in rows if value_of(r) is not None]
    missing = [r for r in rows if value_of(r) is None]
    # Python's sort is stable: ties keep the listing's order (oldest first).
    present.sort(key=value_of, reverse=best_first != reverse)
    return present + missing


def list_runs(
    runs_dir: Path | None = None,
    where: RunFilter | None = None,
    sort: str = "started",
    reverse: bool = False,
) -> list[RunRow]:
    """A row per folder of `runs_dir` that `where` keeps, sorted by `sort`."""
    check_sort_key(sort)
    where = where or RunFilter()
    rows = [row for row in map(row_of, RunFolder.all(runs_dir)) if where.keeps(row)]
    return sort_rows(rows, sort, reverse)


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class RunDetails:
    """`dlzero runs show`: a run's config, summary, manifest and last epochs."""

    row: RunRow
    summary: Summary
    config_text: str  # config.yaml as written: the resolved config
    config: dict[str, Any]
    manifest: Manifest | None  # None for runs trained before manifests were recorded
    epochs_total: int
    last_epochs: tuple[EpochRecord, ...]
    metrics_problem: str | None = None  # why metrics.csv could not be read

    def to_json(self) -> dict[str, Any]:
        return {
            **self.row.to_json(),
            "config": self.config,
            "summary": self.summary.to_json(),
            "manifest": None if self.manifest is None else self.manifest.to_json(),
            "epochs_total": self.epochs_total,
            "metrics": [record.as_dict() for record in self.last_epochs],
            "metrics_problem": self.metrics_problem,
        }


def run_details(folder: RunFolder, epochs: int = 10) -> RunDetails:
    """`folder` in detail, with its last `epochs` epochs' metrics."""
    summary = folder.read_summary()
    records: list[EpochRecord] = []
    problem = None
    try:
        records = folder.read_metrics()
    except DlzeroError as exc:
        problem = str(exc)
    return RunDetails(
        row=row_of(RunListing(folder, summary)),
        summary=summary,
        config_text=folder.read_config_text(),
        config=folder.read_config_data(),
        manifest=folder.read_manifest() if folder.has_manifest() else None,
        epochs_total=len(records),
        last_epochs=tuple(records[-epochs:]) if epochs > 0 else (),
        metrics_problem=problem,
    )
