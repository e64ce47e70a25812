"""Diagnostics of a run: how each layer's activations and parameters fare, per epoch.

What is measured (the rows of diagnostics.csv, long format: epoch, layer, kind, name,
metric, value):

- Per layer, on the run's *diagnostic batch*: `mean` and `std` of the layer's output,
  and what its kind declares about getting stuck (`Layer.health` in the engine):
  `saturated` for sigmoid and tanh (the fraction of outputs within 0.01 of a bound,
  where the slope is nearly zero), `zero` and `dead_units` for ReLU (outputs that are
  exactly zero, and units that are zero for every sample: they never fire). Name `out`.
- Per parameter (named like the book: W1, b1, W2, ...; batch norm's gamma2 belongs
  to the second weighted layer): `weight_norm` (L2, after the epoch), `grad_norm` (of
  the gradient of the epoch's last step, on its training batch), and for weights
  `grad_ratio` = grad_norm / weight_norm and `update_ratio` = ||W after the last step
  - W before it|| / ||W after it|| (the ~1e-3 rule of thumb's quantity).

The diagnostic batch is DIAGNOSTIC_SAMPLES training samples chosen once per run by a
generator of their own (seeded by the run's seed), so measuring never draws from the
training generator. It runs in eval mode: dropout then draws no mask and batch norm
moves no running moments, so no weight, buffer or random number of training changes
and a resumed run still ends bit-identical to an uninterrupted one. (Training mode
would show dropout's zeros and batch statistics, and would have to draw masks.)

Runs of more than MAX_RECORDS epochs are measured on MAX_RECORDS evenly spaced epochs
and the last, so that thousands of millisecond epochs (the logic gates) are not
slowed and diagnostics.csv stays small.

`warnings` turns the last measured epoch into plain advice, with the thresholds below.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dlzero_cli.engine.activations import ACTIVATIONS
from dlzero_cli.engine.network import Sequential

DIAGNOSTIC_SAMPLES = 100
DIAGNOSTIC_STREAM = 0xD1A6  # mixed with the run's seed: a generator apart from training's
MAX_RECORDS = 200

# Warning thresholds (on the last measured epoch).
SATURATED_WARNING = 0.5  # sigmoid/tanh outputs within 0.01 of a bound
DEAD_UNITS_WARNING = 0.2  # ReLU units that are zero for every sample
VANISHED_STD = 1e-3  # an activation layer's output spread, below which signals vanished
STALLED_RATIO = 1e-5  # gradient norm / weight norm
LARGE_UPDATE_RATIO = 0.1  # one step's update norm / weight norm

COLUMNS = ("epoch", "layer", "kind", "name", "metric", "value")


@dataclass(frozen=True)
class DiagnosticRow:
    """One measurement: `layer` is the layer's index in the network (as in "0.W")."""

    epoch: int
    layer: int
    kind: str
    name: str  # "out" for the layer's output, else the parameter's book name (W1, b1)
    metric: str
    value: float


def diagnostic_indices(n: int, seed: int, samples: int = DIAGNOSTIC_SAMPLES) -> np.ndarray:
    """The training samples every epoch is measured on: a fixed, sorted choice."""
    rng = np.random.default_rng((seed, DIAGNOSTIC_STREAM))
    return np.sort(rng.choice(n, size=min(n, samples), replace=False))


def measured(epoch: int, epochs: int) -> bool:
    """Whether `epoch` (1-based) of a run of `epochs` gets diagnostics."""
    every = max(1, math.ceil(epochs / MAX_RECORDS))
    return epoch % every == 0 or epoch == epochs or epoch == 1


def parameter_labels(network: Sequential) -> dict[str, str]:
    """Network names -> the book's: {"0.W": "W1", "0.b": "b1", "1.gamma": "gamma1"}."""
    labels = {}
    number = 0
    for index, layer in enumerate(network.layers):
        number += layer.weighted
        for key in layer.params:
            labels[f"{index}.{key}"] = f"{key}{max(number, 1)}"
    return labels


def layer_outputs(network: Sequential, x: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """Each layer's output on `x`, in eval mode, one layer at a time (index, output).

    The output may live in the layer's scratch memory: use it before the next one.
    """
    network.eval()
    for index, layer in enumerate(network.layers):
        x = layer.forward(x)
        yield index, x


def hidden_activations(network: Sequential, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(label, values) of each hidden activation layer's outputs on `x` (copies)."""
    last_weighted = max((i for i, layer in enumerate(network.layers) if layer.weighted), default=0)
    found = []
    # A diverged run's last good weights may still overflow on the way: plotted as is.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for index, out in layer_outputs(network, x):
            layer = network.layers[index]
            if index < last_weighted and layer.kind in ACTIVATIONS:
                found.append((f"layer {index} ({layer.kind})", np.array(out, dtype=np.float64)))
    return found


class Probe:
    """Measures a network on its run's diagnostic batch; `fit` calls it.

    `x` is the batch already prepared (normalised, the model's dtype). Rows collect in
    `rows` (a resumed run starts with the rows of the epochs it keeps).
    """

    def __init__(
        self, network: Sequential, x: np.ndarray, epochs: int, rows: list[DiagnosticRow]
    ) -> None:
        self.network, self.x, self.epochs = network, x, epochs
        self.rows = rows
        self.labels = parameter_labels(network)
        self._before: dict[str, np.ndarray] = {}

    def wants(self, epoch: int) -> bool:
        return measured(epoch, self.epochs)

    def before_last_step(self) -> None:
        """Keep the weights as they are before the epoch's last update."""
        self._before = {name: p.copy() for name, p in self.network.named_params().items()}

    def measure(self, epoch: int, grads: dict[str, np.ndarray]) -> None:
        """Append the epoch's rows; leaves the network in eval mode."""
        network, rows = self.network, self.rows
        for index, out in layer_outputs(network, self.x):
            layer = network.layers[index]
            kind = layer.kind
            values = out.astype(np.float64, copy=False)
            stats = {"mean": float(values.mean()), "std": float(values.std())}
            stats.update(layer.health(out))
            rows += [DiagnosticRow(epoch, index, kind, "out", k, v) for k, v in stats.items()]
        for index, layer in enumerate(network.layers):
            for key, param in layer.params.items():
                self._measure_param(epoch, index, layer, key, param, grads)
        self._before = {}

    def _measure_param(self, epoch, index, layer, key, param, grads) -> None:
        name = f"{index}.{key}"
        label = self.labels[name]
        weight, grad = _norm(param), _norm(grads[name])

        def row(metric: str, value: float) -> DiagnosticRow:
            return DiagnosticRow(epoch, index, layer.kind, label, metric, value)

        self.rows += [row("weight_norm", weight), row("grad_norm", grad)]
        if key in layer.decayed:  # weights; for biases and norm scales, ratios say little
            before = self._before.get(name)
            update = _norm(param - before) if before is not None else math.nan
            self.rows += [row("grad_ratio", _ratio(grad, weight)),
                          row("update_ratio", _ratio(update, weight))]  # fmt: skip


def _norm(array: np.ndarray) -> float:
    flat = array.reshape(-1).astype(np.float64, copy=False)
    return float(math.sqrt(np.dot(flat, flat)))


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LayerReport:
    """One layer at the last measured epoch: what `dlzero inspect` tabulates."""

    layer: int
    kind: str
    metrics: dict[str, float]  # of its output: mean, std, saturated, zero, dead_units
    params: dict[str, dict[str, float]]  # book name -> weight_norm, grad_norm, ...


def last_epoch(rows: list[DiagnosticRow]) -> int | None:
    return max((row.epoch for row in rows), default=None)


def layer_reports(rows: list[DiagnosticRow]) -> list[LayerReport]:
    """Per layer, the last measured epoch's figures."""
    epoch = last_epoch(rows)
    reports: dict[int, LayerReport] = {}
    for row in rows:
        if row.epoch != epoch:
            continue
        report = reports.setdefault(row.layer, LayerReport(row.layer, row.kind, {}, {}))
        if row.name == "out":
            report.metrics[row.metric] = row.value
        else:
            report.params.setdefault(row.name, {})[row.metric] = row.value
    return [reports[index] for index in sorted(reports)]


def warnings(rows: list[DiagnosticRow]) -> list[str]:
    """Plain advice from the last measured epoch (thresholds: module constants)."""
    reports = layer_reports(rows)
    first_weighted = min((r.layer for r in reports if r.params), default=None)
    found = []
    for report in reports:
        where = f"layer {report.layer} ({report.kind})"
        m = report.metrics
        if m.get("saturated", 0.0) >= SATURATED_WARNING:
            found.append(
                f"{where}: {m['saturated']:.0%} of outputs saturated (within 0.01 of their "
                "bounds, where the gradient vanishes); try `model.init: xavier`"
            )
        if m.get("dead_units", 0.0) >= DEAD_UNITS_WARNING:
            found.append(
                f"{where}: {m['dead_units']:.0%} of units never fire on the diagnostic batch; "
                "try `model.init: he` or a lower train.optimizer.lr"
            )
        if report.kind in ACTIVATIONS and "std" in m and m["std"] < VANISHED_STD:
            found.append(
                f"{where}: its outputs hardly vary (std {m['std']:.1e}): the signal has "
                "vanished; try `model.init: he` for relu, `xavier` for sigmoid/tanh"
            )
        for label, p in report.params.items():
            ratio = p.get("grad_ratio", math.nan)
            if ratio < STALLED_RATIO:
                place = "the first layer" if report.layer == first_weighted else where
                size = "zero" if ratio == 0 else f"{ratio:.0e} of {label}"
                found.append(f"gradients of {label} are {size}: learning has stalled in {place}")
            update = p.get("update_ratio", math.nan)
            if update > LARGE_UPDATE_RATIO:
                found.append(
                    f"one step changes {label} by {update:.0%} of its size: the learning "
                    "rate may be too high (train.optimizer.lr)"
                )
    return found
