"""The run folder's JSON documents as typed records: summary.json and eval reports.

summary.json carries the run folder's format: `"format": 2` since dlzero recorded it;
a summary without one is format 1 (the same files, written before the key existed).
Both are read; a newer format is refused with a line saying to upgrade dlzero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlzero_cli.errors import RunError
from dlzero_cli.evaluation import ClassMetrics
from dlzero_cli.training import EPOCH_FIELDS, EpochRecord

RUN_FORMAT = 2  # the run folder format this dlzero writes
OLDEST_RUN_FORMAT = 1  # ... and the oldest it reads


# --------------------------------------------------------------------------- summary.json


@dataclass(frozen=True)
class Score:
    loss: float
    accuracy: float


@dataclass(frozen=True)
class Outcome:
    """How training ended; written whenever a run stops, however it stops."""

    wall_seconds: float
    epochs_completed: int
    best_epoch: int
    best_metric: str  # the monitored metric: val_loss, train_acc, ...
    best_mode: str  # min or max
    stopped_early: bool
    samples_per_second: float | None
    final: EpochRecord | None  # the last completed epoch's metrics


@dataclass(frozen=True)
class Summary:
    """summary.json: what a run is and how it stands (`status`)."""

    name: str
    status: str  # running, completed, interrupted, diverged, failed or imported
    started_at: str  # ISO 8601, UTC
    dataset: str | None = None
    parameters: int | None = None
    seed: int | None = None  # trained runs
    samples: dict[str, int] | None = None  # per split: train, val, test
    versions: dict[str, str] | None = None  # python, numpy, dlzero
    imported_from: str | None = None  # imported runs: the pickle's path and SHA-256
    imported_sha256: str | None = None
    resumed_at: tuple[str, ...] = ()
    resumed_from_epoch: int | None = None  # the epoch the latest resume started after
    finished_at: str | None = None
    outcome: Outcome | None = None
    error: str | None = None  # diverged or failed: what happened
    test: Score | None = None  # completed: the best epoch's test score
    format: int = field(default=RUN_FORMAT)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": self.format, "name": self.name, "status": self.status}
        if self.imported_from is not None:
            # An imported run's keys in the order dlzero has always written them.
            imported = {
                "imported_from": self.imported_from,
                "imported_sha256": self.imported_sha256,
                "dataset": self.dataset,
                "parameters": self.parameters,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "versions": self.versions,
            }
            data.update((k, v) for k, v in imported.items() if v is not None)
            return data
        optional = {
            "seed": self.seed,
            "dataset": self.dataset,
            "samples": self.samples,
            "parameters": self.parameters,
            "imported_from": self.imported_from,
            "imported_sha256": self.imported_sha256,
        }
        data.update((k, v) for k, v in optional.items() if v is not None)
        data["started_at"] = self.started_at
        if self.versions is not None:
            data["versions"] = self.versions
        if self.resumed_at:
            data["resumed_at"] = list(self.resumed_at)
        if self.resumed_from_epoch is not None:
            data["resumed_from_epoch"] = self.resumed_from_epoch
        if self.finished_at is not None:
            data["finished_at"] = self.finished_at
        if (outcome := self.outcome) is not None:
            data.update(
                wall_seconds=outcome.wall_seconds,
                epochs_completed=outcome.epochs_completed,
                best_epoch=outcome.best_epoch,
                best_metric={"name": outcome.best_metric, "mode": outcome.best_mode},
                stopped_early=outcome.stopped_early,
                samples_per_second=outcome.samples_per_second,
                final=None if outcome.final is None else outcome.final.as_dict(),
            )
        if self.error is not None:
            data["error"] = self.error
        if self.test is not None:
            data["test"] = {"loss": self.test.loss, "accuracy": self.test.accuracy}
        return data


def refuse_newer_format(data: Any, path: Path) -> None:
    """RunError when a summary's `format` is newer than this dlzero reads."""
    version = data.get("format") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > RUN_FORMAT:
        raise RunError(
            f"{path}: written by a newer dlzero (run format {version}; this one reads "
            f"{OLDEST_RUN_FORMAT}-{RUN_FORMAT}); upgrade dlzero"
        )


def summary_from_json(data: Any, path: Path) -> Summary:
    """A summary of format 1 or 2; RunError naming `path` for anything else."""
    if not isinstance(data, dict):
        raise RunError(f"{path}: unreadable (not a JSON object)")
    version = data.get("format", OLDEST_RUN_FORMAT)
    if not isinstance(version, int) or isinstance(version, bool) or version < OLDEST_RUN_FORMAT:
        raise RunError(f"{path}: unreadable (format {version!r} is not a run format)")
    refuse_newer_format(data, path)
    try:
        return _summary(_Fields(data))
    except (ValueError, TypeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


class _Fields:
    """Typed access to a JSON object's keys; ValueError names the key that is wrong."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def get(self, key: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise ValueError(f"no {key!r}")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"{key!r} is {type(value).__name__}: {value!r}")
        return value


def _summary(fields: _Fields) -> Summary:
    number = (int, float)
    outcome = None
    if fields.get("epochs_completed", int) is not None:
        best = _Fields(fields.get("best_metric", dict, required=True))
        final = fields.get("final", dict)
        outcome = Outcome(
            wall_seconds=fields.get("wall_seconds", number, required=True),
            epochs_completed=fields.get("epochs_completed", int),
            best_epoch=fields.get("best_epoch", int, required=True),
            best_metric=best.get("name", str, required=True),
            best_mode=best.get("mode", str, required=True),
            stopped_early=fields.get("stopped_early", bool, required=True),
            samples_per_second=fields.get("samples_per_second", number),
            final=None if final is None else EpochRecord(**_only(final, EPOCH_FIELDS, "final")),
        )
    test = fields.get("test", dict)
    resumed_at = fields.get("resumed_at", list) or []
    return Summary(
        format=fields.get("format", int) or OLDEST_RUN_FORMAT,
        name=fields.get("name", str, required=True),
        status=fields.get("status", str, required=True),
        started_at=fields.get("started_at", str, required=True),
        dataset=fields.get("dataset", str),
        parameters=fields.get("parameters", int),
        seed=fields.get("seed", int),
        samples=fields.get("samples", dict),
        versions=fields.get("versions", dict),
        imported_from=fields.get("imported_from", str),
        imported_sha256=fields.get("imported_sha256", str),
        resumed_at=tuple(str(t) for t in resumed_at),
        resumed_from_epoch=fields.get("resumed_from_epoch", int),
        finished_at=fields.get("finished_at", str),
        outcome=outcome,
        error=fields.get("error", str),
        test=None if test is None else Score(**_only(test, ("loss", "accuracy"), "test")),
    )


def _only(data: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if set(data) != set(keys):
        raise ValueError(f"{where!r} has keys {sorted(data)}, not {list(keys)}")
    return data


# --------------------------------------------------------------------------- eval reports


@dataclass(frozen=True)
class EvalFiles:
    """What `dlzero eval` writes into the run folder for one dataset and split."""

    report: Path  # eval-<dataset>-<split>.json
    confusion: Path  # confusion-<dataset>-<split>.png
    misclassified: Path  # misclassified-<dataset>-<split>.png

    def as_dict(self) -> dict[str, str]:
        return {"report": str(self.report), "confusion": str(self.confusion),
                "misclassified": str(self.misclassified)}  # fmt: skip


@dataclass(frozen=True)
class EvalReport:
    """eval-<dataset>-<split>.json: a run's scores on one split of a dataset."""

    run: Path
    dataset: str
    split: str
    samples: int
    loss: float
    accuracy: float
    top_k: int  # top_k_accuracy counts a sample right when its class is among the top k
    top_k_accuracy: float
    per_class: tuple[ClassMetrics, ...]
    class_names: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # (classes, classes): rows true, columns predicted
    files: EvalFiles
    evaluated_at: str  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        """The JSON of the file and of `dlzero eval --json` (top-k as "top3_accuracy")."""
        return {
            "run": str(self.run),
            "dataset": self.dataset,
            "split": self.split,
            "samples": self.samples,
            "loss": self.loss,
            "accuracy": self.accuracy,
            _top_k_key(self.top_k): self.top_k_accuracy,
            "per_class": [
                {
                    "name": m.name,
                    "precision": m.precision,
                    "recall": m.recall,
                    "f1": m.f1,
                    "support": m.support,
                }
                for m in self.per_class
            ],  # fmt: skip
            "class_names": list(self.class_names),
            "confusion": [list(row) for row in self.confusion],
            "files": self.files.as_dict(),
            "evaluated_at": self.evaluated_at,
        }


_TOP_K = re.compile(r"top([1-9][0-9]*)_accuracy")


def _top_k_key(k: int) -> str:
    return f"top{k}_accuracy"


def eval_report_from_json(data: Any, path: Path) -> EvalReport:
    """An eval report as `EvalReport.to_json` wrote it; RunError naming `path` otherwise."""
    try:
        [top_k] = [int(m[1]) for key in data if (m := _TOP_K.fullmatch(key))]
        files = data["files"]
        return EvalReport(
            run=Path(data["run"]),
            dataset=data["dataset"],
            split=data["split"],
            samples=int(data["samples"]),
            loss=float(data["loss"]),
            accuracy=float(data["accuracy"]),
            top_k=top_k,
            top_k_accuracy=float(data[_top_k_key(top_k)]),
            per_class=tuple(ClassMetrics(**m) for m in data["per_class"]),
            class_names=tuple(data["class_names"]),
            confusion=tuple(tuple(int(n) for n in row) for row in data["confusion"]),
            files=EvalFiles(*(Path(files[k]) for k in ("report", "confusion", "misclassified"))),
            evaluated_at=data["evaluated_at"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{path}: not a dlzero eval report ({type(exc).__name__}: {exc})") from None
