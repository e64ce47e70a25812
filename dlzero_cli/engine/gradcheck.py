"""Central-difference gradient checks, in float64, as in the book's chapter 4/5: of a
function, of one layer (`layer_gradient_errors`), of a whole network
(`network_gradient_check`: typed per-parameter results)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlzero_cli.engine.losses import Criterion
from dlzero_cli.engine.network import Sequential


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


# --------------------------------------------------------------------------- networks

# A network's parameter passes when its relative error is below NETWORK_TOLERANCE, or
# when no entry differs by more than ABSOLUTE_TOLERANCE: gradients that small (a layer
# behind vanishing signals) are below what central differences resolve in float64
# (rounding in the loss, ~1e-16 * L, divided by 2 eps = 2e-6, is ~1e-10), so their
# relative error measures noise, not the backward pass.
NETWORK_TOLERANCE = 1e-5
ABSOLUTE_TOLERANCE = 1e-8
DEFAULT_ENTRIES = 200
# An entry whose two one-sided differences disagree by more than KINK_RATIO of the
# central one has a kink within +-eps (a ReLU input or a max-pooling tie crossing over):
# there the loss has no derivative to compare with, so the entry is skipped and counted.
# On a smooth loss the disagreement is f'' eps / f', about 1e-6 of it.
KINK_RATIO = 1e-4


@dataclass(frozen=True)
class ParameterCheck:
    """One parameter's backprop gradient against central differences."""

    name: str  # the network's name: "0.W"
    shape: tuple[int, ...]
    checked: int  # entries compared (all of them, or a seeded sample, less the kinks)
    kinks: int  # entries skipped: a kink of the loss lay within +-eps
    max_abs_diff: float
    relative_error: float  # norm-wise over the checked entries (see relative_error)
    passed: bool

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def float64_copy(network: Sequential, rng: np.random.Generator | None = None) -> Sequential:
    """The same layers with float64 parameters and buffers: what gradient checks need
    (in float32, central differences drown in rounding)."""
    copy = Sequential.from_spec(network.spec(), np.float64, rng)
    copy.load_params(network.named_params())
    copy.load_buffers(network.named_buffers())
    return copy


def network_gradient_check(
    network: Sequential,
    criterion: Criterion,
    x: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    entries: int | None = DEFAULT_ENTRIES,
    eps: float = 1e-6,
) -> list[ParameterCheck]:
    """Each parameter's gradient from one backward pass against central differences of
    the loss criterion(network(x), labels), in training mode as a training step runs.

    The analytic gradients come from `network.forward`/`backward`, the steps training
    runs (fused ones included). Dropout's masks are drawn once and held for every
    evaluation of the loss; batch norm uses the batch's statistics (the loss depends on
    the whole batch, as in training). A parameter with more than `entries` entries is
    checked on a sample of that many drawn from `rng` (`entries=None`: every entry).
    Perturbing layer i's parameters reruns only layers i, i+1, ... from a copy of
    layer i's input. Run it on a float64 network (`float64_copy`); the parameters are
    perturbed in place and restored.
    """
    network.train()
    layers = network.layers
    for layer in layers:
        layer.hold_randomness(True)
    try:
        criterion.forward(network.forward(x), labels)
        network.backward(criterion.backward())
        analytic = {name: grad.copy() for name, grad in network.named_grads().items()}
        inputs = []  # each layer's input, copied: layers may reuse their output arrays
        out = x
        for layer in layers:
            inputs.append(out.copy())
            out = layer.forward(out)
        reference = criterion.forward(out, labels)

        def loss_from(start: int) -> float:
            out = inputs[start]
            for layer in layers[start:]:
                out = layer.forward(out)
            return criterion.forward(out, labels)

        noise = 1e-13 * max(1.0, abs(reference))
        results = []
        for index, layer in enumerate(layers):
            for key, param in layer.params.items():
                flat = param.reshape(-1)  # a view: perturbing it perturbs the parameter
                if entries is None or flat.size <= entries:
                    picked = np.arange(flat.size)
                else:
                    picked = np.sort(rng.choice(flat.size, entries, replace=False))
                numeric = np.empty(picked.size)
                smooth = np.ones(picked.size, dtype=bool)
                for out_index, entry in enumerate(picked):
                    original = flat[entry]
                    flat[entry] = original + eps
                    plus = loss_from(index)
                    flat[entry] = original - eps
                    minus = loss_from(index)
                    flat[entry] = original
                    numeric[out_index] = (plus - minus) / (2 * eps)
                    bend = abs(plus + minus - 2 * reference)
                    smooth[out_index] = bend <= max(KINK_RATIO * abs(plus - minus), noise)
                name = f"{index}.{key}"
                ours = analytic[name].reshape(-1)[picked][smooth].astype(np.float64)
                theirs = numeric[smooth]
                diff = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
                error = relative_error(ours, theirs)
                finite = bool(np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs)))
                passed = finite and (error < NETWORK_TOLERANCE or diff < ABSOLUTE_TOLERANCE)
                results.append(
                    ParameterCheck(
                        name,
                        tuple(param.shape),
                        int(smooth.sum()),
                        int((~smooth).sum()),
                        diff,
                        error,
                        passed,
                    )  # fmt: skip
                )
        return results
    finally:
        for layer in layers:
            layer.hold_randomness(False)
