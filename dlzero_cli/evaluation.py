"""Evaluate a model on a labelled split: loss, accuracy, per-class metrics, confusion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlzero_cli.data.batching import sequential_batches
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.engine import functional as F
from dlzero_cli.errors import DlzeroError
from dlzero_cli.model import Model


class NonFiniteOutputs(DlzeroError):
    """The network's outputs overflowed to inf or nan: its weights cannot be used."""


def finite_forward(model: Model, x: np.ndarray) -> np.ndarray:
    """The network's outputs on prepared inputs `x`, refused when any is not finite.

    Finite weights can still overflow (a float32 weight of 3e38 times an input of 1):
    a NaN score must never reach a result, and NumPy's overflow warnings (which name
    site-packages files) never reach the terminal."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        outputs = model.network.forward(x)
    return refuse_non_finite(model, outputs)


def finite_class_scores(model: Model, x_raw: np.ndarray) -> np.ndarray:
    """`model.class_scores(x_raw)`, refused when any score is not finite (as above)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scores = model.class_scores(x_raw)
    return refuse_non_finite(model, scores)


def refuse_non_finite(model: Model, values: np.ndarray) -> np.ndarray:
    if np.isfinite(values).all():
        return values
    params = model.network.named_params()
    broken = [name for name, p in params.items() if not np.isfinite(p).all()]
    if broken:  # a weight file damaged after training (training never writes these)
        raise NonFiniteOutputs(
            f"the weights hold NaN or infinite values ({', '.join(broken[:4])}); "
            "train the run again, or check the weight file with `dlzero runs verify`"
        )
    largest = max((float(np.abs(p).max()) for p in params.values() if p.size), default=0.0)
    raise NonFiniteOutputs(
        "the network's outputs overflow to inf or nan on these inputs (its largest "
        f"weight is {largest:.3g} in {model.dtype}); its weights cannot be used as they are"
    )


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


TOP_K = 3


@dataclass(frozen=True)
class Misclassified:
    """The most confidently wrong samples, most confident first."""

    indices: np.ndarray  # into the evaluated data
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray  # the score of the predicted class


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    top_k: int
    top_k_accuracy: float
    samples: int
    confusion: np.ndarray  # (classes, classes): rows true class, columns predicted
    per_class: list[ClassMetrics]
    misclassified: Misclassified


# progress(done, total): samples evaluated so far and in all, after each batch.
Progress = Callable[[int, int], None]


def evaluate(
    model: Model,
    data: Arrays,
    batch_size: int = 100,
    keep_wrong: int = 0,
    progress: Progress | None = None,
) -> Evaluation:
    """Metrics over `data`, batch by batch, in eval mode; weights are only read.

    Memory does not grow with N: per batch, the running confusion matrix and the
    `keep_wrong` most confident mistakes so far are all that is kept. `progress`, when
    given, is called after every batch with (samples done, samples in all); the last
    call has done == total.
    """
    model.network.eval()
    criterion = model.criterion()
    classes = len(model.class_names)
    k = min(TOP_K, classes)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    loss_sum, in_top_k = 0.0, 0
    wrong = _TopMistakes(keep_wrong)
    for rows in sequential_batches(len(data), batch_size):
        labels = data.y[rows]
        logits = finite_forward(model, model.prepare(data.x[rows]))
        loss_sum += criterion.forward(logits, labels) * labels.shape[0]
        scores = F.scores_to_class_scores(criterion.y)
        predicted = F.scores_to_labels(criterion.y)
        np.add.at(confusion, (labels, predicted), 1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < classes else None
        in_top_k += labels.shape[0] if top is None else int((top == labels[:, None]).any(1).sum())
        wrong.add(rows.start, labels, predicted, scores[np.arange(len(labels)), predicted])
        if progress is not None:
            progress(rows.stop, len(data))
    samples = len(data)
    correct = int(np.trace(confusion))
    return Evaluation(
        loss=loss_sum / samples if samples else float("nan"),
        accuracy=correct / samples if samples else float("nan"),
        top_k=k,
        top_k_accuracy=in_top_k / samples if samples else float("nan"),
        samples=samples,
        confusion=confusion,
        per_class=per_class_metrics(confusion, model.class_names),
        misclassified=wrong.result(),
    )


class _TopMistakes:
    """Keeps the `limit` highest-confidence mistakes seen so far."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        empty = np.empty(0, dtype=np.int64)
        self.best = Misclassified(empty, empty, empty, np.empty(0))

    def add(self, offset: int, true, predicted, confidence) -> None:
        if self.limit == 0:
            return
        wrong = np.flatnonzero(true != predicted)
        if wrong.size == 0:
            return
        merged = [
            np.concatenate([old, new])
            for old, new in zip(
                (self.best.indices, self.best.true, self.best.predicted, self.best.confidence),
                (wrong + offset, true[wrong], predicted[wrong], confidence[wrong]),
                strict=True,
            )
        ]
        order = np.argsort(-merged[3], kind="stable")[: self.limit]
        self.best = Misclassified(*(m[order] for m in merged))

    def result(self) -> Misclassified:
        return self.best


def per_class_metrics(confusion: np.ndarray, names: tuple[str, ...]) -> list[ClassMetrics]:
    """Precision, recall and F1 per class; 0 where a ratio has nothing to divide by."""
    true_positive = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(
        true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0
    )
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return [
        ClassMetrics(names[i], float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i in range(len(names))
    ]
