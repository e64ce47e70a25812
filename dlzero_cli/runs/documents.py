"""The run folder's JSON documents as typed records: summary.json, manifest.json and
eval reports.

summary.json carries the run folder's format: `"format": N` since dlzero recorded it;
a summary without one is format 1 (the same files, written before the key existed).
Format 3 is format 2 with one change of meaning: the optimizer `nesterov` in config.yaml
is Nesterov's momentum as Sutskever et al. (2013) and PyTorch define it; in formats 1
and 2 it was the book's variant, now named `nesterov_book`, and such a run is read
with that name (`formats.config_upgrades`), so resuming or rerunning it keeps its
update rule. All three are read; a newer format is refused with a line saying to
upgrade dlzero (which also keeps an older dlzero from resuming a format-3 `nesterov`
run with the book's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlzero_cli.errors import RunError
from dlzero_cli.evaluation import ClassMetrics
from dlzero_cli.training import EPOCH_FIELDS, EpochRecord

RUN_FORMAT = 3  # the run folder format this dlzero writes
OLDEST_RUN_FORMAT = 1  # ... and the oldest it reads


# --------------------------------------------------------------------------- summary.json


# The statuses from which `dlzero train --resume` continues a run.
RESUMABLE = ("running", "interrupted", "failed")


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
    best_val_acc: float | None = None  # the highest val_acc of any epoch (None: no val)


@dataclass(frozen=True)
class Summary:
    """summary.json: what a run is and how it stands (`status`)."""

    name: str
    status: str  # running, completed, interrupted, diverged, failed or imported
    started_at: str  # ISO 8601, UTC
    dataset: str | None = None
    layers: str | None = None  # model.layers as one line: 64-50-100-10, conv(30,5)-relu-...
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
                "layers": self.layers,
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
            "layers": self.layers,
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
            if outcome.best_val_acc is not None:
                data["best_val_acc"] = outcome.best_val_acc
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
            best_val_acc=fields.get("best_val_acc", number),
        )
    test = fields.get("test", dict)
    resumed_at = fields.get("resumed_at", list) or []
    return Summary(
        format=fields.get("format", int) or OLDEST_RUN_FORMAT,
        name=fields.get("name", str, required=True),
        status=fields.get("status", str, required=True),
        started_at=fields.get("started_at", str, required=True),
        dataset=fields.get("dataset", str),
        layers=fields.get("layers", str),
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


# --------------------------------------------------------------------------- manifest.json

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class BlasLibrary:
    """One BLAS library loaded in the process, as threadpoolctl reports it."""

    library: str  # the shared object's prefix: libscipy_openblas, libmkl_rt, ...
    internal_api: str  # openblas, mkl, blis, ...
    version: str | None
    num_threads: int  # the threads it used while the run trained


@dataclass(frozen=True)
class Environment:
    """What a run's numbers depend on besides its config, seed and data."""

    versions: dict[str, str]  # python, numpy, dlzero
    blas: tuple[BlasLibrary, ...]
    threads_requested: int | None  # train --threads / threads=; None: left as it was

    @property
    def threads(self) -> int | None:
        """The BLAS threads in effect (the most any loaded BLAS library used)."""
        return max((b.num_threads for b in self.blas), default=None)

    def differences(self, other: Environment) -> list[str]:
        """What differs from `other`, one phrase each: "numpy 2.4.6 -> 2.5.0"."""
        changes = [
            f"{name} {other.versions.get(name, '-')} -> {self.versions.get(name, '-')}"
            for name in sorted(set(self.versions) | set(other.versions))
            if self.versions.get(name) != other.versions.get(name)
        ]

        def blas_text(env: Environment) -> str:
            return (
                ", ".join(
                    f"{b.internal_api} {b.version or '?'} ({b.num_threads} threads)"
                    for b in env.blas
                )
                or "none"
            )

        if blas_text(self) != blas_text(other):
            changes.append(f"BLAS {blas_text(other)} -> {blas_text(self)}")
        return changes

    def to_json(self) -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "blas": [
                {
                    "library": b.library,
                    "internal_api": b.internal_api,
                    "version": b.version,
                    "num_threads": b.num_threads,
                }
                for b in self.blas
            ],  # fmt: skip
            "threads": {"requested": self.threads_requested, "used": self.threads},
        }


@dataclass(frozen=True)
class SplitDigest:
    """The SHA-256 of one split's arrays as the run trained on them (see `manifest`)."""

    samples: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """manifest.json: what a run's results came from, to check them later.

    `files` maps each run file that existed when the run ended (config.yaml,
    metrics.csv, weights.npz, last.npz, checkpoint.npz) to its SHA-256; `dataset` names
    the dataset and holds one digest per split (train, val, test) of the arrays as
    loaded (see `dlzero_cli.runs.manifest.split_digest` for exactly what is hashed);
    imported runs, which trained elsewhere, have none.
    """

    written_at: str  # ISO 8601, UTC
    files: dict[str, str]
    dataset: str | None
    splits: dict[str, SplitDigest]
    environment: Environment
    format: int = MANIFEST_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "written_at": self.written_at,
            "files": {name: {"sha256": digest} for name, digest in self.files.items()},
            "dataset": None if self.dataset is None else {
                "name": self.dataset,
                "splits": {
                    split: {"samples": d.samples, "sha256": d.sha256}
                    for split, d in self.splits.items()
                },
            },
            **self.environment.to_json(),
        }  # fmt: skip


def manifest_from_json(data: Any, path: Path) -> Manifest:
    """A manifest as `Manifest.to_json` wrote it; RunError naming `path` otherwise."""
    try:
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {MANIFEST_FORMAT}")
        dataset = data["dataset"]
        threads = data["threads"]
        return Manifest(
            format=MANIFEST_FORMAT,
            written_at=str(data["written_at"]),
            files={str(name): str(entry["sha256"]) for name, entry in data["files"].items()},
            dataset=None if dataset is None else str(dataset["name"]),
            splits={} if dataset is None else {
                str(split): SplitDigest(int(d["samples"]), str(d["sha256"]))
                for split, d in dataset["splits"].items()
            },
            environment=Environment(
                versions={str(k): str(v) for k, v in data["versions"].items()},
                blas=tuple(
                    BlasLibrary(str(b["library"]), str(b["internal_api"]),
                                None if b["version"] is None else str(b["version"]),
                                int(b["num_threads"]))
                    for b in data["blas"]
                ),
                threads_requested=None if threads["requested"] is None
                else int(threads["requested"]),
            ),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunError(f"{path}: not a dlzero manifest ({type(exc).__name__}: {exc})") from None


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
