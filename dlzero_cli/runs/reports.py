"""Using a trained run: evaluate it on a dataset split, predict with it.

`evaluate_run` writes its report and figures into the run folder (when it cannot, the
results still stand: it says which files were not written); `predict_inputs` reads
images, arrays and rows and returns ranked classes. Neither changes weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.splits import limit_samples
from dlzero_cli.errors import DlzeroError, UsageError
from dlzero_cli.evaluation import Progress, evaluate, finite_class_scores
from dlzero_cli.inputs import InputProblem, InputSpec, read_inputs
from dlzero_cli.model import Model
from dlzero_cli.runs.documents import EvalReport
from dlzero_cli.runs.folder import RunFolder, utc_now
from dlzero_cli.runs.splits import load_splits

MISCLASSIFIED_SHOWN = 20


@dataclass(frozen=True)
class EvalOutcome:
    """An evaluation's report, and the files of it that could not be written."""

    report: EvalReport
    not_written: dict[Path, str]  # each file that could not be written: why (no space...)

    def not_written_lines(self) -> list[str]:
        return [f"{path} ({why})" for path, why in self.not_written.items()]


def evaluate_run(
    folder: RunFolder,
    split: str,
    batch_size: int | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    dataset_name: str | None = None,
    progress: Progress | None = None,
) -> EvalOutcome:
    """Evaluate a run on a split of its own dataset (or another of the same shape).

    Writes eval-<dataset>-<split>.json, a confusion-matrix PNG and a grid of the most
    confidently misclassified inputs into the run folder (with -limit<N> in their names
    for a limited evaluation, so the full one's stay). A file that cannot be written (a
    full disk, a read-only folder) is named in the outcome; the report stands.
    """
    model = folder.read_model()
    loaded = folder.read_config(check_memory=False)  # evaluating builds no new network
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
    result = evaluate(
        model, data, batch_size=batch_size, keep_wrong=MISCLASSIFIED_SHOWN, progress=progress
    )
    names = model.class_names
    files = folder.eval_files(dataset.name, split, limit)
    title = f"{dataset.name} {split}" + (f" ({result.samples} samples)" if limit else "")
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
    writes: list[tuple[Path, Callable[[], None]]] = [
        (files.confusion, lambda: folder.write_eval_confusion(files, title, result, names)),
        (
            files.misclassified,
            lambda: folder.write_eval_mistakes(files, title, result, data.x, names),
        ),
        (files.report, lambda: folder.write_eval_report(report)),
    ]
    not_written = {path: why for path, write in writes if (why := _write_failure(write))}
    return EvalOutcome(report, not_written)


def _write_failure(write: Callable[[], None]) -> str | None:
    """None when `write` succeeded; why it failed otherwise (no space, read-only,
    permission denied: the earlier file, if any, is left as it was)."""
    try:
        write()
    except OSError as exc:
        return exc.strerror or str(exc)
    except DlzeroError as exc:  # a write error already worded by the atomic writer
        return str(exc)
    return None


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
    scores = finite_class_scores(model, np.concatenate([samples.x for samples in read]))
    k = min(top_k, scores.shape[1])
    predictions = []
    for name, row in zip(names, scores, strict=True):
        order = np.argsort(-row, kind="stable")[:k]
        ranked = [RankedClass(int(c), model.class_names[c], float(row[c])) for c in order]
        best = ranked[0]
        predictions.append(Prediction(name, best.label, best.name, best.probability, ranked))
    return predictions, errors
