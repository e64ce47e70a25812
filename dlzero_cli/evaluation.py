"""Evaluate a model on a labelled split: loss, accuracy, per-class metrics, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlzero_cli.data.batching import sequential_batches
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.engine import functional as F
from dlzero_cli.modeling import Model


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    samples: int
    confusion: np.ndarray  # (classes, classes): rows true class, columns predicted
    per_class: list[ClassMetrics]


def evaluate(model: Model, data: Arrays, batch_size: int = 1000) -> Evaluation:
    """Metrics over `data`, batch by batch (memory does not grow with N), in eval mode."""
    model.network.eval()
    criterion = model.criterion()
    classes = len(model.class_names)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    loss_sum = 0.0
    for rows in sequential_batches(len(data), batch_size):
        labels = data.y[rows]
        logits = model.network.forward(model.prepare(data.x[rows]))
        loss_sum += criterion.forward(logits, labels) * labels.shape[0]
        predicted = F.scores_to_labels(criterion.y)
        np.add.at(confusion, (labels, predicted), 1)
    samples = len(data)
    correct = int(np.trace(confusion))
    return Evaluation(
        loss=loss_sum / samples if samples else float("nan"),
        accuracy=correct / samples if samples else float("nan"),
        samples=samples,
        confusion=confusion,
        per_class=per_class_metrics(confusion, model.class_names),
    )


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
