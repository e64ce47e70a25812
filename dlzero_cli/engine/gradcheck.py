"""Central-difference gradient checks, in float64, as in the book's chapter 4/5."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by (f(x + eps) - f(x - eps)) / 2 eps, one element at a time.

    `x` is perturbed in place and restored; `f` must read it on every call.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        out[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), the usual gradcheck measure (0 when both are 0).

    Norm-wise rather than element-wise, so gradients that are legitimately tiny
    somewhere do not turn rounding noise into a large ratio.
    """
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denominator) if denominator > 0 else 0.0


TOLERANCE = 1e-7  # relative error that float64 central differences reach on a correct layer


def layer_gradient_errors(layer, x: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Relative errors of a layer's analytic gradients against central differences.

    The loss is L = sum(forward(x) * R) with R random, in training mode; the result maps
    "x" and each parameter name to ||analytic - numeric|| / (||analytic|| + ||numeric||).
    Raises AssertionError when backward changes the `dout` it is handed.
    """
    layer.training = True
    weights = rng.standard_normal(layer.forward(x).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * weights))

    loss()
    dout = weights.copy()
    dx = layer.backward(dout)
    if not np.array_equal(dout, weights):
        raise AssertionError(f"{type(layer).__name__}.backward mutated dout")
    errors = {"x": relative_error(dx, numerical_gradient(loss, x))}
    analytic = {name: grad.copy() for name, grad in layer.grads.items()}
    for name, param in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, param))
    return errors
