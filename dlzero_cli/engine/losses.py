"""Losses and the criteria that pair them with an output activation.

A loss: `forward(y, labels) -> float` and `backward() -> dL/dy`, already divided by
the batch size N. Labels are integer class indices (N,); each loss encodes them to
the output's shape (one-hot, or a 0/1 column for a single sigmoid unit).

A criterion turns the network's last affine output (the logits) into a loss: the
output activation followed by the loss, or one fused layer where the pair has a
simpler joint derivative (softmax or sigmoid + cross-entropy: dL/dx = (y - t) / N).
After `forward`, `criterion.y` holds the output activation's values (the predictions).

No loss here takes the log of a probability. The book does (cross_entropy_error:
log(y + 1e-7)), and its 1e-7 guard caps the loss at -log(1e-7) = 16.1 and zeroes the
gradient of a confident mistake (sigmoid(40) is 1.0 even in float64, so the unfused
sigmoid then cross-entropy learnt nothing from it). Both cross-entropies are computed
from the logits instead, as PyTorch's cross_entropy and
binary_cross_entropy_with_logits do: finite for every finite logit, no guard needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlzero_cli.engine import functional as F
from dlzero_cli.engine.activations import OUTPUTS
from dlzero_cli.engine.layers import Layer
from dlzero_cli.engine.registry import Registry


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


class SigmoidCrossEntropy:
    """Sigmoid then binary cross-entropy on (N, units) logits z, fused.

    Each unit is an independent yes/no probability sigmoid(z); with one unit it is the
    usual binary cross-entropy. Per unit the loss is
    -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))) = max(z, 0) - t z + log1p(exp(-|z|)),
    summed over units and averaged over the batch; exp never sees a positive argument,
    so no logit overflows. With 0/1 targets max(z, 0) - t z is max(-z, 0) where t = 1
    and max(z, 0) where t = 0, which also keeps an infinite logit on the right side at
    0 rather than inf - inf. The gradient is (sigmoid(z) - t) / N: a logit of 40 with
    target 0 gives 1/N, as it should (the unfused pair gave 0).
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        t = F.encode_targets(labels, logits.shape[1], logits.dtype)
        self.y = F.sigmoid(logits)
        self._t = t
        loss = np.maximum(np.where(t > 0, -logits, logits), 0)
        loss += np.log1p(np.exp(-np.abs(logits)))
        return float(loss.sum() / logits.shape[0])

    def backward(self) -> np.ndarray:
        dx = self.y - self._t
        dx /= dx.shape[0]
        return dx


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

    def __init__(self, output: Layer, loss: MeanSquaredError) -> None:
        self.output = output
        self.loss = loss

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        self.y = self.output.forward(logits)
        return self.loss.forward(self.y, labels)

    def backward(self) -> np.ndarray:
        return self.output.backward(self.loss.backward())


Criterion = SoftmaxCrossEntropy | SigmoidCrossEntropy | OutputThenLoss


@dataclass(frozen=True)
class LossFamily:
    """One loss and the criterion it makes with each output it accepts."""

    by_output: dict[str, Callable[[], Criterion]]

    def outputs(self) -> list[str]:
        return sorted(self.by_output)


def _then(output: str, loss: Callable[[], MeanSquaredError]):
    return lambda: OutputThenLoss(OUTPUTS.get(output)(), loss())


LOSSES: Registry[LossFamily] = Registry("loss")
LOSSES.add(
    "cross_entropy",
    LossFamily(
        {
            "softmax": SoftmaxCrossEntropy,
            "sigmoid": SigmoidCrossEntropy,
        }
    ),
    "-sum(t log y), from the logits: softmax or sigmoid (binary) outputs, each fused",
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
