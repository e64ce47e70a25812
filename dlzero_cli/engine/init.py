"""Weight initialisers: (rng, shape, fan_in, dtype, activation, init_std) -> W of `shape`.

`fan_in` is the number of inputs each output unit sums: `in` for a dense layer,
channels x kh x kw for a convolution. Biases always start at zero. Every draw comes
from the run's one Generator, so a seed fixes every weight.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlzero_cli.engine.registry import Registry

Initializer = Callable[..., np.ndarray]
INITIALIZERS: Registry[Initializer] = Registry("init")


def _gaussian(rng: np.random.Generator, shape: tuple[int, ...], dtype, scale: float):
    # A scale beyond the dtype's range (init_std=1e308) gives infinite weights, quietly:
    # the caller refuses a network whose initial weights are not finite, in one line
    # naming the setting, instead of NumPy's overflow warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        w = rng.standard_normal(shape, dtype=np.float64) * scale
        return w.astype(dtype)


@INITIALIZERS.register("std", "Gaussian with standard deviation init_std (0.01, the book's)")
def std_init(rng, shape, fan_in, dtype, activation, init_std):
    return _gaussian(rng, shape, dtype, init_std)


@INITIALIZERS.register("xavier", "Gaussian with std sqrt(1 / fan_in), for sigmoid and tanh")
def xavier_init(rng, shape, fan_in, dtype, activation, init_std):
    return _gaussian(rng, shape, dtype, np.sqrt(1.0 / fan_in))


@INITIALIZERS.register("he", "Gaussian with std sqrt(2 / fan_in), for relu")
def he_init(rng, shape, fan_in, dtype, activation, init_std):
    return _gaussian(rng, shape, dtype, np.sqrt(2.0 / fan_in))


# Activations whose half-zero output calls for He's doubled variance.
RELU_LIKE = frozenset({"relu"})


@INITIALIZERS.register("auto", "he for relu, xavier otherwise")
def auto_init(rng, shape, fan_in, dtype, activation, init_std):
    chosen = he_init if activation in RELU_LIKE else xavier_init
    return chosen(rng, shape, fan_in, dtype, activation, init_std)
