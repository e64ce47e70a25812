"""Using a trained run: evaluate it on a dataset split, predict with it.

`evaluate_run` writes its report and figures into the run folder; `predict_inputs`
reads images, arrays and rows and returns ranked classes. Neither changes weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.splits import limit_samples
from dlzero_cli.errors import UsageError
from dlzero_cli.evaluation import evaluate
from dlzero_cli.inputs import InputProblem, InputSpec, read_inputs
from dlzero_cli.model import Model
from dlzero_cli.runs.documents import EvalReport
from dlzero_cli.runs.folder import RunFolder, utc_now
from dlzero_cli.runs.splits import load_splits

MISCLASSIFIED_SHOWN = 20


def evaluate_run(
    folder: RunFolder,
    split: str,
    batch_size: int | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    dataset_name: str | None = None,
) -> EvalReport:
    """Evaluate a run on a split of its own dataset (or another of the same shape).

    Writes eval-<dataset>-<split>.json, a confusion-matrix PNG and a grid of the most
    confidently misclassified inputs into the run folder, and returns the report.
    """
    model = folder.read_model()
    loaded = folder.read_config()
    dataset = DATASETS.get(dataset_name or loaded.config.data.dataset)
    check_compatible(model, dataset)
    data = load_splits(loaded, data_dir, (split,), dataset)[split]
    data = limit_samples(data, limit, loaded.config.data.split_seed)
    if not len(data):
        raise UsageError(
            f"split {split!r} of run {folder.path} is empty (data.validation is 0); "
            "evaluate --split test or train"
        )
    batch_size = batch_size or loaded.config.train.batch_size  # memory stays per batch
    result = evaluate(model, data, batch_size=batch_size, keep_wrong=MISCLASSIFIED_SHOWN)
    names = model.class_names
    files = folder.write_eval_plots(dataset.name, split, result, data.x, names)
    report = EvalReport(
        run=folder.path,
        dataset=dataset.name,
        split=split,
        samples=result.samples,
        loss=result.loss,
        accuracy=result.accuracy,
        top_k=result.top_k,
        top_k_accuracy=result.top_k_accuracy,
        per_class=tuple(result.per_class),
        class_names=tuple(names),
        confusion=tuple(tuple(row) for row in result.confusion.tolist()),
        files=files,
        evaluated_at=utc_now().isoformat(),
    )
    folder.write_eval_report(report)
    return report


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


@dataclass(frozen=True)
class RankedClass:
    label: int
    name: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    input: str
    label: int
    name: str
    probability: float
    top_k: list[RankedClass]  # the most probable first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict_inputs(
    folder: RunFolder,
    inputs: list[str],
    top_k: int,
    invert: str = "auto",
    stdin: bytes | None = None,
) -> tuple[list[Prediction], list[InputProblem]]:
    """Predictions for every readable input, and one line per unreadable one (and at
    most one warning about values outside the trained range)."""
    model = folder.read_model()
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
        ranked = [RankedClass(int(c), model.class_names[c], float(row[c])) for c in order]
        best = ranked[0]
        predictions.append(Prediction(name, best.label, best.name, best.probability, ranked))
    return predictions, errors
