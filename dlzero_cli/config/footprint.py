"""How much memory a config's network needs, known before a single weight is allocated.

The layers are first built in `SHAPES_ONLY`, a NumPy dtype of zero bytes (a structured
dtype without fields): every parameter array has its real shape and holds nothing, so
the real layer classes report their own parameter counts and output shapes at no cost,
and the estimate cannot drift from what the layers allocate. `dlzero summary` describes
a network of any size the same way.

The estimate, in the config's dtype:

- parameters and their gradients, a copy of both kept for the best epoch, and the
  optimizer's per-parameter state and scratch (as the optimizer declares them:
  `state_copies`);
- batch norm's running moments;
- one training batch through the layers: the input, every layer's output and its
  gradient, and what a layer keeps for backward besides (`cache_values`: a
  convolution's unfolded input) with its gradient; or an evaluation batch of 100
  forward, if larger;
- or, if larger, what initialising needs: the parameters and gradients with the
  initialiser's float64 draw of the largest weight array (it lives briefly).

All that, and a quarter more for what it does not count (MARGIN). Available memory is
MemAvailable from /proc/meminfo (os.sysconf elsewhere); when it
cannot be read, nothing is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.engine.optim import OPTIMIZERS

# Arrays of this dtype have a shape and no bytes: layers built in it cost nothing but
# the zero-byte fill NumPy still loops over (about 0.03 s per billion values), so a
# shapes-only build stops before its layers would hold more values than this.
SHAPES_ONLY = np.dtype([])
SHAPES_ONLY_LIMIT = 10**10

# Evaluation runs batches of 100 (Model.class_scores, evaluate), forward only.
EVAL_BATCH = 100
# What the parts above do not count (checkpoint writes, evaluation's outputs, NumPy's
# temporaries, Python itself) is taken as a quarter more: the estimate is not exact
# and running out of memory kills the process without a word.
MARGIN = 1.25

MEMINFO = Path("/proc/meminfo")


def available_bytes() -> int | None:
    """Memory the machine can give a new allocation without swapping, or None."""
    try:
        for line in MEMINFO.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def optimizer_copies(name: str) -> int:
    """Arrays the optimizer `name` keeps per parameter array (state and scratch)."""
    return OPTIMIZERS.get(name).state_copies


@dataclass(frozen=True)
class Footprint:
    """Bytes a network needs to train, by part."""

    parameters: int  # values
    buffers: int  # values
    activation_values: int  # per sample, forward and backward
    forward_values: int  # per sample, forward only
    largest_weight: int  # values of the largest parameter array
    batch: int
    itemsize: int
    optimizer: str

    @property
    def parameter_bytes(self) -> int:
        """Parameters, gradients, the best epoch's copy of both, the optimizer's arrays."""
        copies = 4 + optimizer_copies(self.optimizer)
        return int(self.parameters * copies * self.itemsize) + self.buffers * 2 * self.itemsize

    @property
    def activation_bytes(self) -> int:
        """A training batch forward and back, or an evaluation batch forward."""
        training = self.activation_values * self.batch
        evaluation = self.forward_values * EVAL_BATCH
        return max(training, evaluation) * self.itemsize

    @property
    def init_bytes(self) -> int:
        """While the weights are drawn: parameters and gradients, and the initialiser's
        float64 draw of the largest weight array and its scaled copy."""
        return 2 * self.parameters * self.itemsize + self.largest_weight * 16

    @property
    def total(self) -> int:
        """The peak, while initialising or while training (whichever is larger), with
        the MARGIN for what is not counted."""
        return int(MARGIN * max(self.init_bytes, self.parameter_bytes + self.activation_bytes))

    def parts(self) -> list[tuple[str, int]]:
        """`total` by part, as `dlzero check` shows it: (what, bytes), summing to
        `total` exactly, so that check and train's refusal can never disagree."""
        values = self.parameters * self.itemsize
        state = self.parameter_bytes - 4 * values - self.buffers * 2 * self.itemsize
        training = self.activation_values * self.batch >= self.forward_values * EVAL_BATCH
        batch = (
            f"activations of a batch of {self.batch} and their gradients"
            if training
            else f"activations of an evaluation batch of {EVAL_BATCH}"
        )
        parts = [
            ("parameters", values),
            ("parameter gradients", values),
            ("the best epoch's copy of both", 2 * values),
            (f"optimizer state ({self.optimizer})", state),
        ]
        if self.buffers:
            parts.append(
                ("batch norm's running moments and their copy", self.buffers * 2 * self.itemsize)
            )
        parts.append((batch, self.activation_bytes))
        counted = sum(size for _, size in parts)
        if self.init_bytes > counted:
            parts.append(("drawing the first weights, beyond training", self.init_bytes - counted))
        parts.append(
            (
                f"what is not counted (a margin of {MARGIN - 1:.0%})",
                self.total - max(counted, self.init_bytes),
            )
        )
        return parts


def estimate(
    layers: list, shapes: list[tuple[int, ...]], input_shape: tuple[int, ...], *,
    batch: int, dtype: np.dtype, optimizer: str,
) -> Footprint:  # fmt: skip
    """The footprint of `layers` (built in SHAPES_ONLY or for real) and their output
    `shapes` per sample, trained on batches of `batch` in `dtype` with `optimizer`."""
    parameters = sum(int(a.size) for layer in layers for a in layer.params.values())
    buffers = sum(int(a.size) for layer in layers for a in layer.buffers.values())
    largest = max((int(a.size) for layer in layers for a in layer.params.values()), default=0)
    values = forward = _size(input_shape)
    inputs = [tuple(input_shape), *shapes[:-1]]
    for layer, shape, layer_input in zip(layers, shapes, inputs, strict=True):
        cache = layer.cache_values(layer_input)
        values += 2 * (_size(shape) + cache)  # the output and cache, and their gradients
        forward += _size(shape) + cache
    itemsize = np.dtype(dtype).itemsize
    return Footprint(parameters, buffers, values, forward, largest, batch, itemsize, optimizer)


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=object))  # exact, however large


def beyond_limit(values: int, dtype: np.dtype, available: int | None) -> str:
    """The message for layers that would hold more than SHAPES_ONLY_LIMIT values (the
    rest of the network is not even built to measure it)."""
    needs = values * np.dtype(dtype).itemsize
    machine = f"this machine has {gigabytes(available)} available" if available else ""
    return (
        f"the network needs more than {gigabytes(needs)} to train ({values:,} parameters "
        f"and gradients before any optimizer state or activations, past the "
        f"{SHAPES_ONLY_LIMIT:,} dlzero builds){', but ' + machine if machine else ''}; "
        "use fewer or smaller layers"
    )


def gigabytes(count: int) -> str:
    """Bytes in decimal units, as free(1) -h and disk sizes show them."""
    if count >= 10**9:
        return f"{count / 1e9:,.1f} GB"
    return f"{count / 1e6:,.1f} MB"


def too_large(footprint: Footprint, available: int | None) -> str | None:
    """The message when `footprint` does not fit in `available` bytes, else None."""
    if available is None or footprint.total <= available:
        return None
    float32 = ", or train.dtype: float32" if footprint.itemsize == 8 else ""
    return (
        f"the network needs about {gigabytes(footprint.total)} to train "
        f"({footprint.parameters:,} parameters with their gradients and "
        f"{footprint.optimizer}'s state: {gigabytes(footprint.parameter_bytes)}; a batch "
        f"through the layers: {gigabytes(footprint.activation_bytes)}; drawing the first "
        f"weights: {gigabytes(footprint.init_bytes)}), but this machine "
        f"has {gigabytes(available)} available; use fewer or smaller layers or a smaller "
        f"train.batch_size{float32}"
    )
