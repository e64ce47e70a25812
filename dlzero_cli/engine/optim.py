"""Optimizers: update a network's named parameters in place from their gradients.

State (none for plain SGD) is keyed by parameter name ("0.W"), so a checkpoint is a
plain .npz of arrays.
"""

from __future__ import annotations

import numpy as np

from dlzero_cli.engine.registry import Registry

OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")


class Optimizer:
    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.params = params
        self.lr = lr

    def step(self, grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state; got {sorted(state)}")


@OPTIMIZERS.register("sgd", "stochastic gradient descent: W <- W - lr * dW")
class SGD(Optimizer):
    """W <- W - lr * dL/dW for every parameter."""

    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        super().__init__(params, lr)
        # One scratch buffer per parameter: the update allocates nothing per batch
        # and leaves the network's gradients as backward computed them.
        self._scratch = {name: np.empty_like(p) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, param in self.params.items():
            update = np.multiply(grads[name], self.lr, out=self._scratch[name])
            param -= update
