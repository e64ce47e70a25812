"""Pure array maths shared by layers and losses: no state, no I/O."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) scores.

    Subtracting each row's maximum first leaves the result unchanged (the factor
    exp(-max) cancels) but keeps exp() from overflowing for large scores.
    """
    shifted = x - x.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log(softmax(x)) without forming softmax, exact even where it underflows."""
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed as 0.5 * tanh(x / 2) + 0.5.

    The two are the same function; the tanh form never overflows (exp(-x) does for
    x < -88 in float32) and needs no warning suppression.
    """
    out = np.multiply(x, 0.5, dtype=x.dtype)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def one_hot(labels: np.ndarray, classes: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """(N,) integer labels -> (N, classes) rows with a single 1."""
    encoded = np.zeros((labels.shape[0], classes), dtype=dtype)
    encoded[np.arange(labels.shape[0]), labels] = 1
    return encoded


def encode_targets(labels: np.ndarray, units: int, dtype: np.dtype | type) -> np.ndarray:
    """Targets shaped like a network output of `units` columns.

    One output unit means a binary problem: the target is the label itself (0 or 1)
    as a column. Otherwise each class has a unit and the target is one-hot.
    """
    if units == 1:
        return labels.reshape(-1, 1).astype(dtype)
    return one_hot(labels, units, dtype)


def scores_to_labels(scores: np.ndarray) -> np.ndarray:
    """Predicted class per row: argmax over units, or score > 0.5 for a single unit."""
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64)
    return scores.argmax(axis=1)


def scores_to_class_scores(scores: np.ndarray) -> np.ndarray:
    """(N, units) -> (N, classes): a single unit p becomes the two columns (1 - p, p)."""
    if scores.shape[1] == 1:
        return np.concatenate([1 - scores, scores], axis=1)
    return scores
