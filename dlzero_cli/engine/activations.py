"""Activation functions as layers, and the output layers a model ends with.

Each class is registered in the families it belongs to: ACTIVATIONS (what
`model.activation` and a layer list may name), OUTPUTS (what `model.output` may name)
and LAYERS. Each keeps what its backward needs, side by side, and declares how it gets
stuck (`health`) for run diagnostics.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dlzero_cli.engine import functional as F
from dlzero_cli.engine.layers import LAYERS, Layer
from dlzero_cli.engine.registry import Registry
from dlzero_cli.engine.scratch import Scratch
from dlzero_cli.errors import EngineError

ACTIVATIONS: Registry[type[Layer]] = Registry("activation")
OUTPUTS: Registry[type[Layer]] = Registry("output")


@ACTIVATIONS.register("sigmoid", "1 / (1 + exp(-x)), the book's smooth step")
@OUTPUTS.register("sigmoid", "independent probabilities per unit (binary with one unit)")
@LAYERS.register("sigmoid", "1 / (1 + exp(-x))")
class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y)."""

    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)

    def health(self, out: np.ndarray) -> dict[str, float]:
        return {"saturated": _near_bounds(out, self.bounds, self.SATURATION_MARGIN)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = F.sigmoid(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = 1.0 - self._out
        dx *= self._out
        dx *= dout
        return dx


@ACTIVATIONS.register("relu", "max(0, x)")
@LAYERS.register("relu", "max(0, x)")
class ReLU(Layer):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0."""

    def health(self, out: np.ndarray) -> dict[str, float]:
        # "zero": outputs that pass no gradient back; "dead_units": units (features or
        # channels) that are zero for every sample of the batch: they never fire.
        zero = out == 0
        per_unit = zero.reshape(zero.shape[0], zero.shape[1], -1).all(axis=(0, 2))
        return {"zero": float(zero.mean()), "dead_units": float(per_unit.mean())}

    def __init__(self) -> None:
        super().__init__()
        self._scratch = Scratch()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.trained_forward = self.training
        if self.training:  # only backward needs the mask
            self._positive = np.greater(x, 0, out=self._scratch.like("mask", x, np.bool_))
        return np.maximum(x, 0, out=self._scratch.like("out", x))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.require_training_forward()
        return np.multiply(dout, self._positive, out=self._scratch.like("dx", dout))


@ACTIVATIONS.register("tanh", "hyperbolic tangent, in (-1, 1)")
@LAYERS.register("tanh", "hyperbolic tangent")
class Tanh(Layer):
    """y = tanh(x); dy/dx = 1 - y^2."""

    bounds: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def health(self, out: np.ndarray) -> dict[str, float]:
        return {"saturated": _near_bounds(out, self.bounds, self.SATURATION_MARGIN)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = self._out * self._out
        np.subtract(1.0, dx, out=dx)
        dx *= dout
        return dx


def _near_bounds(out: np.ndarray, bounds: tuple[float, float], margin: float) -> float:
    """The fraction of `out` within `margin` of either bound (where the slope vanishes)."""
    low, high = bounds
    if out.size == 0:
        return 0.0
    return float(np.count_nonzero((out <= low + margin) | (out >= high - margin)) / out.size)


@ACTIVATIONS.register("step", "1 where x > 0 else 0, the perceptron's step (not trainable)")
@LAYERS.register("step", "1 where x > 0 else 0")
class Step(Layer):
    """The perceptron's step: y = 1 if x > 0 else 0. Forward only.

    Its derivative is 0 everywhere except at 0, where it does not exist, so no
    gradient can flow through it.
    """

    differentiable = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (x > 0).astype(x.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise EngineError(
            "the step function has no usable derivative (zero almost everywhere); "
            "use sigmoid or relu to train"
        )


@ACTIVATIONS.register("identity", "y = x (no non-linearity)")
@OUTPUTS.register("identity", "raw scores, for regression-style mse training")
@LAYERS.register("identity", "y = x")
class Identity(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


@OUTPUTS.register("softmax", "probabilities over the classes (sum to 1)")
class Softmax(Layer):
    """Row-wise softmax, (N, C) -> (N, C).

    backward is the Jacobian-vector product dx = y * (dout - sum(dout * y)). Training
    with cross-entropy uses the fused SoftmaxCrossEntropy loss instead.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._out = F.softmax(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._out
        return y * (dout - (dout * y).sum(axis=1, keepdims=True))
