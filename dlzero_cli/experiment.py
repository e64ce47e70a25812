"""The jobs behind the commands, without the CLI: train, evaluate and predict.

Training creates the run folder, keeps summary.json truthful (`running` ->
`completed` / `interrupted` / `diverged` / `failed`), keeps metrics.csv current and
writes the weights at the end. Evaluation and prediction read a run folder back.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli import __version__, plots
from dlzero_cli.book import load_book_params, read_param_pickle
from dlzero_cli.config import LoadedConfig, dump_config, load_config
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.data.splits import dataset_splits, limit_samples
from dlzero_cli.errors import TrainingDiverged, UsageError
from dlzero_cli.evaluation import Evaluation, evaluate
from dlzero_cli.inputs import InputSpec, read_inputs
from dlzero_cli.modeling import Model
from dlzero_cli.runs import (
    CONFIG_FILE,
    CURVES_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    WEIGHTS_FILE,
    create_run_dir,
    load_model,
    utc_now,
    write_csv,
    write_json,
    write_npz,
    write_text,
)
from dlzero_cli.training import METRIC_COLUMNS, Diverged, EpochRecord, Progress, fit


class TrainingProgress(Progress):
    """Progress callbacks of a whole run: `fit`'s, plus the run's start."""

    def run_started(self, run_dir: Path, model: Model, splits: dict[str, Arrays]) -> None: ...


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    history: list[EpochRecord]
    test: Evaluation
    summary: dict[str, Any]


def load_splits(
    loaded: LoadedConfig,
    data_dir: Path | None = None,
    wanted: tuple[str, ...] = ("train", "val", "test"),
) -> dict[str, Arrays]:
    data = loaded.config.data
    dataset = DATASETS.get(data.dataset)
    try:
        return dataset_splits(
            dataset, data.validation, data.split_seed, data_dir, data.limit, wanted
        )
    except ValueError as exc:
        raise loaded.source.error(("data", "validation"), str(exc)) from None


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "dlzero": __version__}


class _Recorder(Progress):
    """Passes fit's callbacks on and keeps metrics.csv current.

    The file is rewritten (atomically) after an epoch when a second has passed since
    the last write, and always at the end: runs of thousands of millisecond epochs
    (the logic gates) would otherwise spend their time rewriting it.
    """

    WRITE_INTERVAL = 1.0

    def __init__(self, run_dir: Path, downstream: Progress) -> None:
        self.run_dir, self.downstream = run_dir, downstream
        self.records: list[EpochRecord] = []
        self._written_at = time.perf_counter()
        self._written = 0

    def flush(self) -> None:
        if self._written != len(self.records):
            rows = [r.as_dict() for r in self.records]
            write_csv(self.run_dir / METRICS_FILE, METRIC_COLUMNS, rows)
            self._written = len(self.records)
        self._written_at = time.perf_counter()

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self.downstream.epoch_started(epoch, epochs, steps)

    def step_done(self, step: int, loss: float) -> None:
        self.downstream.step_done(step, loss)

    def epoch_done(self, record: EpochRecord) -> None:
        self.records.append(record)
        if time.perf_counter() - self._written_at >= self.WRITE_INTERVAL:
            self.flush()
        self.downstream.epoch_done(record)


def train_from_config(
    loaded: LoadedConfig,
    runs_dir: Path,
    progress: TrainingProgress | None = None,
    data_dir: Path | None = None,
) -> TrainResult:
    config = loaded.config
    progress = progress or TrainingProgress()
    splits = load_splits(loaded, data_dir)
    dataset = DATASETS.get(config.data.dataset)
    rng = np.random.default_rng(config.seed)
    model = Model.from_config(config, dataset, rng)
    model.normalizer.fit(splits["train"].x)

    run_dir = create_run_dir(runs_dir, config.name)
    write_text(run_dir / CONFIG_FILE, dump_config(config))
    write_csv(run_dir / METRICS_FILE, METRIC_COLUMNS, [])
    summary: dict[str, Any] = {
        "name": config.name,
        "status": "running",
        "seed": config.seed,
        "dataset": dataset.name,
        "samples": {split: len(arrays) for split, arrays in splits.items()},
        "parameters": model.network.parameter_count(),
        "started_at": utc_now().isoformat(),
        "versions": versions(),
    }
    write_json(run_dir / SUMMARY_FILE, summary)
    progress.run_started(run_dir, model, splits)

    recorder = _Recorder(run_dir, progress)
    started = time.perf_counter()

    def finish(status: str, **extra: Any) -> None:
        recorder.flush()
        plots.plot_curves(
            [r.as_dict() for r in recorder.records],
            run_dir / CURVES_FILE,
            f"{config.name} ({status})",
        )
        wall = time.perf_counter() - started
        seen = len(recorder.records) * len(splits["train"])
        summary.update(
            status=status,
            finished_at=utc_now().isoformat(),
            wall_seconds=round(wall, 3),
            epochs_completed=len(recorder.records),
            samples_per_second=round(seen / wall, 1) if wall > 0 else None,
            final=recorder.records[-1].as_dict() if recorder.records else None,
            **extra,
        )
        write_json(run_dir / SUMMARY_FILE, summary)

    val = splits["val"] if len(splits["val"]) else None
    try:
        history = fit(model, splits["train"], val, config.train, rng, progress=recorder)
    except Diverged as exc:
        write_npz(run_dir / WEIGHTS_FILE, model.to_arrays())
        finish("diverged", error=str(exc))
        raise TrainingDiverged(
            f"{exc}: training stopped; lower train.optimizer.lr (now "
            f"{config.train.optimizer.lr}) or check the input scale (data.normalize); "
            f"the last good weights are in {run_dir}"
        ) from None
    except KeyboardInterrupt:
        write_npz(run_dir / WEIGHTS_FILE, model.to_arrays())
        finish("interrupted")
        raise
    except BaseException as exc:
        finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise

    write_npz(run_dir / WEIGHTS_FILE, model.to_arrays())
    test = evaluate(model, splits["test"])
    finish("completed", test={"loss": test.loss, "accuracy": test.accuracy})
    return TrainResult(run_dir, history, test, summary)


# --------------------------------------------------------------------------- eval


EVAL_SPLITS = ("test", "val", "train")


def evaluate_run(
    run_dir: Path,
    split: str,
    batch_size: int = 1000,
    data_dir: Path | None = None,
    limit: int | None = None,
    dataset_name: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run on a split of its own dataset (or another of the same shape).

    Writes eval-<dataset>-<split>.json, a confusion-matrix PNG and a grid of the most
    confidently misclassified inputs into the run folder, and returns the report.
    """
    model = load_model(run_dir)
    loaded = load_config(str(run_dir / CONFIG_FILE))
    dataset = DATASETS.get(dataset_name or loaded.config.data.dataset)
    check_compatible(model, dataset)
    settings = loaded.config.data
    try:
        data = dataset_splits(
            dataset, settings.validation, settings.split_seed, data_dir, settings.limit, (split,)
        )[split]
    except ValueError as exc:
        raise loaded.source.error(("data", "validation"), str(exc)) from None
    data = limit_samples(data, limit, settings.split_seed)
    if not len(data):
        raise UsageError(
            f"split {split!r} of run {run_dir} is empty (data.validation is 0); "
            "evaluate --split test or train"
        )
    result = evaluate(model, data, batch_size=batch_size, keep_wrong=MISCLASSIFIED_SHOWN)
    stem = f"{dataset.name}-{split}"
    files = {
        "report": run_dir / f"eval-{stem}.json",
        "confusion": run_dir / f"confusion-{stem}.png",
        "misclassified": run_dir / f"misclassified-{stem}.png",
    }
    names = model.class_names
    plots.plot_confusion(
        result.confusion, names, files["confusion"], f"{dataset.name} {split}: confusion matrix"
    )
    wrong = result.misclassified
    plots.plot_misclassified(
        data.x[wrong.indices],
        wrong.true.tolist(),
        wrong.predicted.tolist(),
        wrong.confidence.tolist(),
        names,
        files["misclassified"],
        f"{dataset.name} {split}: most confident mistakes",
    )
    report = {
        "run": str(run_dir),
        "dataset": dataset.name,
        "split": split,
        "samples": result.samples,
        "loss": result.loss,
        "accuracy": result.accuracy,
        f"top{result.top_k}_accuracy": result.top_k_accuracy,
        "per_class": [asdict(m) for m in result.per_class],
        "class_names": list(names),
        "confusion": result.confusion.tolist(),
        "files": {kind: str(path) for kind, path in files.items()},
        "evaluated_at": utc_now().isoformat(),
    }
    write_json(files["report"], report)
    return report


MISCLASSIFIED_SHOWN = 20


def check_compatible(model: Model, dataset: Dataset) -> None:
    """A model evaluates only datasets with its input shape and number of classes."""
    shape = "x".join(map(str, dataset.input_shape))
    ours = "x".join(map(str, model.input_shape))
    if dataset.input_shape != model.input_shape or dataset.classes != len(model.class_names):
        raise UsageError(
            f"dataset {dataset.name!r} has {shape} inputs and {dataset.classes} classes; this "
            f"run's model ({model.dataset}) takes {ours} inputs and {len(model.class_names)} "
            "classes"
        )


# --------------------------------------------------------------------------- predict


@dataclass(frozen=True)
class Prediction:
    input: str
    label: int
    name: str
    probability: float
    top_k: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict_inputs(
    run_dir: Path,
    inputs: list[str],
    top_k: int,
    invert: str = "auto",
    stdin: bytes | None = None,
) -> tuple[list[Prediction], list[str]]:
    """Predictions for every readable input, and one error line per unreadable one."""
    model = load_model(run_dir)
    spec = InputSpec(model.input_shape, model.normalizer.pixel_max, invert)
    read, errors = read_inputs(inputs, spec, stdin)
    if not read:
        return [], errors
    names = [name for samples in read for name in samples.names]
    scores = model.class_scores(np.concatenate([samples.x for samples in read]))
    k = min(top_k, scores.shape[1])
    predictions = []
    for name, row in zip(names, scores, strict=True):
        order = np.argsort(-row, kind="stable")[:k]
        ranked = [
            {"label": int(c), "name": model.class_names[c], "probability": float(row[c])}
            for c in order
        ]
        best = ranked[0]
        predictions.append(
            Prediction(name, best["label"], best["name"], best["probability"], ranked)
        )
    return predictions, errors


# --------------------------------------------------------------------------- import


def import_book(weights: Path, config_ref: str, runs_dir: Path, name: str | None = None) -> Path:
    """A run folder holding the book's pretrained parameters under `config_ref`'s layers."""
    loaded = load_config(config_ref, [f"name={name}"] if name else [])
    config = loaded.config
    if config.data.normalize == "standardize":
        raise loaded.source.error(
            ("data", "normalize"),
            "got 'standardize'; the book's networks take pixels / 255: use scale",
        )
    dataset = DATASETS.get(config.data.dataset)
    model = Model.from_config(config, dataset, np.random.default_rng(config.seed))
    load_book_params(model.network, read_param_pickle(weights), str(weights))
    run_dir = create_run_dir(runs_dir, config.name)
    write_text(run_dir / CONFIG_FILE, dump_config(config))
    write_csv(run_dir / METRICS_FILE, METRIC_COLUMNS, [])
    write_npz(run_dir / WEIGHTS_FILE, model.to_arrays())
    now = utc_now().isoformat()
    write_json(
        run_dir / SUMMARY_FILE,
        {
            "name": config.name,
            "status": "imported",
            "imported_from": str(weights.resolve()),
            "imported_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "dataset": dataset.name,
            "parameters": model.network.parameter_count(),
            "started_at": now,
            "finished_at": now,
            "versions": versions(),
        },
    )
    return run_dir
