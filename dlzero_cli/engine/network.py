"""Sequential: a list of layers run forward in order and differentiated backward.

Parameters are reached by dotted names ("0.W", "2.b": layer index, parameter), the
keys of weight files and optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlzero_cli.engine.fused import execution_plan
from dlzero_cli.engine.layers import LAYERS, Layer


class Sequential:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.training = False
        # dL/dx of the first layer is never needed when training; see Affine, Conv2D.
        for layer in layers[:1]:
            if hasattr(layer, "needs_input_grad"):
                layer.needs_input_grad = False
        self._plan = execution_plan(layers)  # the steps they run as: engine/fused.py

    @classmethod
    def from_spec(
        cls,
        specs: list[dict[str, Any]],
        dtype: np.dtype | type,
        rng: np.random.Generator | None = None,
    ) -> Sequential:
        """Layers from their specs (`spec()`), with zero parameters, to be filled by
        `initialize` or a weight file.

        `rng` is the generator of layers that draw random numbers (dropout).
        """
        dtype = np.dtype(dtype)
        return cls([LAYERS.get(spec["type"]).from_spec(spec, dtype, rng) for spec in specs])

    @staticmethod
    def spec_shapes(specs: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
        """The shapes of the parameters and buffers, by dotted name ("0.W"), that
        `from_spec(specs)` would allocate, known without allocating them."""
        return {
            f"{i}.{name}": shape
            for i, spec in enumerate(specs)
            for name, shape in LAYERS.get(spec["type"]).spec_shapes(spec).items()
        }

    def spec(self) -> list[dict[str, Any]]:
        return [layer.spec() for layer in self.layers]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self._plan:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self._plan):
            dout = layer.backward(dout)
        return dout

    def train(self) -> None:
        self._set_mode(True)

    def eval(self) -> None:
        self._set_mode(False)

    def _set_mode(self, training: bool) -> None:
        self.training = training
        for layer in self.layers:
            layer.training = training

    @property
    def min_batch(self) -> int:
        """The fewest samples a training batch may have (2 with batch norm)."""
        return max((layer.min_batch for layer in self.layers), default=1)

    def named_params(self) -> dict[str, np.ndarray]:
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()
        }

    def named_grads(self) -> dict[str, np.ndarray]:
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()
        }

    def named_buffers(self) -> dict[str, np.ndarray]:
        """Saved, untrained state such as batch norm's running moments."""
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.buffers.items()
        }

    def decayed_names(self) -> set[str]:
        """Parameters that weight decay applies to (weights, not biases or norm scales)."""
        return {f"{i}.{k}" for i, layer in enumerate(self.layers) for k in layer.decayed}

    def load_params(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters; names and shapes must match exactly."""
        _copy_into(self.named_params(), arrays, "parameter")

    def load_buffers(self, arrays: dict[str, np.ndarray]) -> None:
        _copy_into(self.named_buffers(), arrays, "buffer")

    def parameter_count(self) -> int:
        return sum(layer.parameter_count() for layer in self.layers)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """One sample's output shape for one sample's `input_shape`."""
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return input_shape

    def summary(self, input_shape: tuple[int, ...]) -> list[LayerSummary]:
        """Per layer: what it is, one sample's output shape, parameters, multiply-adds."""
        rows = []
        shape = tuple(input_shape)
        for index, layer in enumerate(self.layers):
            macs = layer.macs(shape)
            shape = layer.output_shape(shape)
            rows.append(LayerSummary(index, layer.describe(), shape, layer.parameter_count(), macs))
        return rows


@dataclass(frozen=True)
class LayerSummary:
    index: int
    layer: str
    output_shape: tuple[int, ...]  # one sample's
    parameters: int
    macs: int  # multiply-adds per sample


def _copy_into(own: dict[str, np.ndarray], arrays: dict[str, np.ndarray], kind: str) -> None:
    """Copy `arrays` into `own` in place; the names and shapes must match exactly."""
    missing = sorted(set(own) - set(arrays))
    extra = sorted(set(arrays) - set(own))
    if missing or extra:
        raise ValueError(f"{kind} names differ: missing {missing}, unexpected {extra}")
    for name, target in own.items():
        value = arrays[name]
        if value.shape != target.shape:
            raise ValueError(f"{kind} {name}: shape {value.shape}, expected {target.shape}")
        target[...] = value


def initialize(
    network: Sequential,
    rng: np.random.Generator,
    weight_init: Callable[[int], Callable[..., np.ndarray]],
    activation: Callable[[int], str],
    init_std: float,
) -> None:
    """Draw the weights of every layer that has them; biases start at zero.

    Layers are numbered from 1 in order, as the book's W1, W2, ...; `weight_init(k)` is
    the k-th layer's initialiser and `activation(k)` the activation that follows it.
    """
    number = 0
    for layer in network.layers:
        if not layer.weighted:
            continue
        number += 1
        W = layer.params["W"]
        W[...] = weight_init(number)(
            rng, W.shape, layer.fan_in, W.dtype, activation(number), init_std
        )
        layer.params["b"][...] = 0
