"""Losses and the criteria that pair them with an output activation.

A loss: `forward(y, labels) -> float` and `backward() -> dL/dy`, already divided by
the batch size N. Labels are integer class indices (N,); each loss encodes them to
the output's shape (one-hot, or a 0/1 column for a single sigmoid unit).

A criterion turns the network's last affine output (the logits) into a loss: the
output activation followed by the loss, or one fused layer where the pair has a
simpler joint derivative (softmax + cross-entropy: dL/dx = (y - t) / N). After
`forward`, `criterion.y` holds the output activation's values (the predictions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlzero_cli.engine import functional as F
from dlzero_cli.engine.activations import OUTPUTS
from dlzero_cli.engine.layers import Layer
from dlzero_cli.engine.registry import Registry

# The guard the book puts inside log(): log(0) would be -inf for a probability that
# underflowed to exactly 0.
LOG_EPSILON = 1e-7


class SoftmaxCrossEntropy:
    """Softmax then categorical cross-entropy on (N, C) logits, fused.

    The loss is computed from log-softmax, which stays finite where softmax
    underflows; the gradient is the famous (softmax(x) - t) / N.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        n = logits.shape[0]
        # log softmax(x)_t = (x_t - max) - log(sum(exp(x - max))): one exp serves both
        # the probabilities and the loss, and the log never sees an underflowed 0.
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        exp /= total
        self.y = exp
        self._labels = labels
        log_likelihood = shifted[np.arange(n), labels] - np.log(total[:, 0])
        return float(-log_likelihood.sum() / n)

    def backward(self) -> np.ndarray:
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self._labels] -= 1
        dx /= n
        return dx


class BinaryCrossEntropy:
    """-sum(t log(y + eps) + (1 - t) log(1 - y + eps)) / N on probabilities y in [0, 1].

    Each unit is an independent yes/no probability (sigmoid outputs); with one unit
    it is the usual binary cross-entropy. eps is the book's 1e-7 guard.
    """

    def forward(self, y: np.ndarray, labels: np.ndarray) -> float:
        t = F.encode_targets(labels, y.shape[1], y.dtype)
        self._y, self._t = y, t
        loss = t * np.log(y + LOG_EPSILON) + (1 - t) * np.log(1 - y + LOG_EPSILON)
        return float(-loss.sum() / y.shape[0])

    def backward(self) -> np.ndarray:
        y, t = self._y, self._t
        dy = (1 - t) / (1 - y + LOG_EPSILON) - t / (y + LOG_EPSILON)
        dy /= y.shape[0]
        return dy


class MeanSquaredError:
    """Sum of squares 0.5 * sum((y - t)^2), averaged over the batch (the book's loss)."""

    def forward(self, y: np.ndarray, labels: np.ndarray) -> float:
        t = F.encode_targets(labels, y.shape[1], y.dtype)
        self._diff = y - t
        return float(0.5 * np.sum(self._diff * self._diff) / y.shape[0])

    def backward(self) -> np.ndarray:
        return self._diff / self._diff.shape[0]


class OutputThenLoss:
    """Criterion: an output activation layer, then a loss on its outputs."""

    def __init__(self, output: Layer, loss: BinaryCrossEntropy | MeanSquaredError) -> None:
        self.output = output
        self.loss = loss

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        self.y = self.output.forward(logits)
        return self.loss.forward(self.y, labels)

    def backward(self) -> np.ndarray:
        return self.output.backward(self.loss.backward())


Criterion = SoftmaxCrossEntropy | OutputThenLoss


@dataclass(frozen=True)
class LossFamily:
    """One loss and the criterion it makes with each output it accepts."""

    by_output: dict[str, Callable[[], Criterion]]

    def outputs(self) -> list[str]:
        return sorted(self.by_output)


def _then(output: str, loss: Callable[[], BinaryCrossEntropy | MeanSquaredError]):
    return lambda: OutputThenLoss(OUTPUTS.get(output)(), loss())


LOSSES: Registry[LossFamily] = Registry("loss")
LOSSES.add(
    "cross_entropy",
    LossFamily(
        {
            "softmax": SoftmaxCrossEntropy,
            "sigmoid": _then("sigmoid", BinaryCrossEntropy),
        }
    ),
    "-sum(t log y): softmax (fused) or sigmoid (binary, 1e-7 guard) outputs",
)
LOSSES.add(
    "mse",
    LossFamily(
        {
            "identity": _then("identity", MeanSquaredError),
            "sigmoid": _then("sigmoid", MeanSquaredError),
        }
    ),
    "sum of squares 0.5 * sum((y - t)^2) / N: identity or sigmoid outputs",
)


def make_criterion(loss: str, output: str) -> Criterion:
    """The criterion for a (loss, output) pair; the config has checked the pair."""
    family = LOSSES.get(loss)
    try:
        return family.by_output[output]()
    except KeyError:
        raise ValueError(
            f"loss {loss!r} cannot follow output {output!r}; "
            f"use one of: {', '.join(family.outputs())}"
        ) from None
