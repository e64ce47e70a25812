"""Sequential: a list of layers run forward in order and differentiated backward.

Parameters are reached by dotted names ("0.W", "2.b": layer index, parameter), the
keys of weight files and optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlzero_cli.engine.layers import LAYERS, Affine, Layer


class Sequential:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.training = False
        # dL/dx of the first layer is never needed when training; see Affine.
        for layer in layers[:1]:
            if isinstance(layer, Affine):
                layer.needs_input_grad = False

    @classmethod
    def from_spec(cls, specs: list[dict[str, Any]], dtype: np.dtype | type) -> Sequential:
        """Layers with zero parameters, to be filled by `initialize` or a weight file."""
        return cls([LAYERS.get(spec["type"]).from_spec(spec, np.dtype(dtype)) for spec in specs])

    def spec(self) -> list[dict[str, Any]]:
        return [layer.spec() for layer in self.layers]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
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

    def named_params(self) -> dict[str, np.ndarray]:
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()
        }

    def named_grads(self) -> dict[str, np.ndarray]:
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()
        }

    def load_params(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters; names and shapes must match exactly."""
        own = self.named_params()
        missing = sorted(set(own) - set(arrays))
        extra = sorted(set(arrays) - set(own))
        if missing or extra:
            raise ValueError(f"parameter names differ: missing {missing}, unexpected {extra}")
        for name, param in own.items():
            value = arrays[name]
            if value.shape != param.shape:
                raise ValueError(f"parameter {name}: shape {value.shape}, expected {param.shape}")
            param[...] = value

    def parameter_count(self) -> int:
        return sum(p.size for p in self.named_params().values())


def initialize(
    network: Sequential,
    rng: np.random.Generator,
    weight_init: Callable[..., np.ndarray],
    activation: str,
    init_std: float,
) -> None:
    """Draw every affine layer's weights with `weight_init`; biases start at zero."""
    for layer in network.layers:
        if isinstance(layer, Affine):
            W = layer.params["W"]
            W[...] = weight_init(rng, W.shape[0], W.shape[1], W.dtype, activation, init_std)
            layer.params["b"][...] = 0
