"""Layers: each keeps in `forward` what its `backward` needs, side by side.

The protocol (see `Layer`): `params` and `grads` are dicts with the same keys;
(an output may live in scratch memory the layer reuses: valid until its next call);
`buffers` holds state that is saved but not trained (batch norm's running moments);
`forward(x)` returns the output; `backward(dout)` returns dL/dx and fills `grads`.
Backward never mutates `dout`. `training` switches layers such as dropout and batch
norm between their two behaviours.

Backward differentiates the last forward. Layers whose eval-mode forward keeps less
(ReLU's mask, max pooling's winners, batch norm's normalised input are skipped at
inference for speed) raise EngineError on a backward after an eval-mode forward
(`require_training_forward`) instead of using a training batch's stale state; the
others (dense, conv, sigmoid, tanh, dropout, ...) keep the same in both modes, so
their backward is right after either.

A layer kind is declared once, on its class: the name it is registered under in LAYERS
is its `kind` everywhere (YAML layer lists, weight files); `settings` is what a
layer-list entry takes, `build` turns those settings and the input's shape into a
layer, `output_shape` is the shape rule, `spec()`/`from_spec` the weight file's
description, `describe()` the name tables show. The config, the summary table and the
weight files all read these.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dlzero_cli.engine.declaration import (
    INIT_SETTING,
    LayerKinds,
    Setting,
)
from dlzero_cli.errors import EngineError

LAYERS = LayerKinds("layer")


class Layer:
    """Base class: a layer without parameters that passes shapes through."""

    # The name it is registered under in LAYERS (set by the registration); output-only
    # layers such as Softmax are not layer kinds and keep "".
    kind: ClassVar[str] = ""
    # The settings of a layer-list entry, and the one a bare number stands for
    # ({dense: 100} is {dense: {units: 100}}).
    settings: ClassVar[tuple[Setting, ...]] = ()
    shorthand: ClassVar[str | None] = None
    # Layers with weights drawn by an initialiser, numbered like the book's W1, W2, ...
    weighted: ClassVar[bool] = False
    # May follow the last weighted layer without changing what its scores mean (the
    # book's DeepConvNet ends with dropout).
    passes_scores: ClassVar[bool] = False
    # False for functions whose derivative is zero almost everywhere (the step):
    # gradient descent cannot train through them.
    differentiable: ClassVar[bool] = True
    # Parameters that weight decay shrinks: weights, never biases or norm scales.
    decayed: ClassVar[tuple[str, ...]] = ()
    # The node's name in the book's computational graphs when it is not the class's
    # own ("Convolution", "Pooling"); see `graph_name`.
    book_name: ClassVar[str] = ""
    # False when a training-mode forward pass draws random numbers or moves saved state
    # (dropout, batch norm): central differences need two passes that differ only in
    # the nudged parameter.
    repeatable: ClassVar[bool] = True
    # The fewest samples a training batch may have (batch norm after dense layers: 2,
    # see BatchNorm; a built layer may answer for itself).
    min_batch: ClassVar[int] = 1
    # How an activation's outputs get stuck, for run diagnostics: sigmoid and tanh
    # saturate near their bounds, ReLU dies at zero. Each kind declares its own
    # `health`; layers that cannot get stuck report nothing.
    SATURATION_MARGIN: ClassVar[float] = 0.01

    def health(self, out: np.ndarray) -> dict[str, float]:
        """Fractions of `out` (this layer's output on a batch) that have stopped
        learning: {"saturated": ...} or {"zero": ..., "dead_units": ...}; {} when
        the kind cannot get stuck."""
        return {}

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = False
        # Whether the last forward ran in training mode (see require_training_forward).
        self.trained_forward = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def require_training_forward(self) -> None:
        """For a backward that needs what only a training-mode forward keeps."""
        if not self.trained_forward:
            raise backward_needs_training(self.kind or type(self).__name__)

    @classmethod
    def build(
        cls,
        settings: dict[str, Any],
        input_shape: tuple[int, ...],
        dtype: np.dtype,
        rng: np.random.Generator | None = None,
    ) -> Layer:
        """A layer from validated layer-list settings, for one sample's `input_shape`
        (zero parameters, to be initialised); ShapeError when it cannot take that input."""
        return cls()

    def spec(self) -> dict[str, Any]:
        """The JSON-able description that `from_spec` rebuilds the layer from."""
        return {"type": self.kind}

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], dtype: np.dtype, rng: np.random.Generator | None = None
    ) -> Layer:
        return cls()

    @classmethod
    def spec_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of the parameters and buffers ("W", "running_mean", ...) that the
        layer `spec` describes holds, known without building it: `from_spec` allocates
        these, and a weight file's arrays are checked against them first, so a file
        whose description claims a huge layer is refused before anything is allocated."""
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output given one sample's input shape; ShapeError when
        the input does not fit."""
        return input_shape

    def describe(self) -> str:
        """A short name for tables: 'conv 30x5x5', 'affine 784->50'."""
        return self.kind

    @classmethod
    def graph_name(cls) -> str:
        """The name a computational graph gives the layer, as the book draws it:
        Affine, Sigmoid, ReLU, Convolution, Pooling, BatchNorm, Dropout, ..."""
        return cls.book_name or cls.__name__

    def parameter_count(self) -> int:
        return sum(p.size for p in self.params.values())

    @classmethod
    def held_values(cls, settings: dict[str, Any], input_shape: tuple[int, ...]) -> int:
        """Values (parameters, their gradients, buffers) a layer built from `settings`
        for one sample's `input_shape` holds, known before building it (a network too
        large to build is refused first). Layers without weights or buffers hold none."""
        return 0

    def cache_values(self, input_shape: tuple[int, ...]) -> int:
        """Values per sample a training forward keeps for backward besides its output,
        which backward then meets with a gradient of the same size (a convolution's
        unfolded input); 0 for layers that keep only what is the size of their input
        or output. Memory estimates count them (config.footprint)."""
        return 0

    def hold_randomness(self, hold: bool) -> None:
        """While held, a layer that draws random numbers in training (dropout) reuses
        its last draw, so that the same input gives the same output: what a gradient
        check needs, evaluating one loss many times. Layers without randomness ignore it."""

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-adds per sample (0 for layers without a matrix product)."""
        return 0


def backward_needs_training(what: str) -> EngineError:
    return EngineError(
        f"{what}: backward needs a training-mode forward first (the last forward ran in "
        "eval mode, or there was none); call network.train() and run forward again"
    )


@LAYERS.register("dense", "fully connected: x @ W + b")
class Affine(Layer):
    """Dense (the book's Affine) layer y = x W + b: (N, in) -> (N, out), W is (in, out),
    b is (out,).

    Inputs with more than two axes are flattened per sample, as the book does, and
    dx gets the input's shape back.
    """

    settings = (Setting("units", int, minimum=1), INIT_SETTING)
    shorthand = "units"
    weighted = True
    decayed = ("W",)

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        # The first layer's dL/dx is never used in training; skipping it saves a
        # matrix product per batch. The network turns this off for layer 0.
        self.needs_input_grad = True
        self._x: np.ndarray | None = None
        self._x_shape: tuple[int, ...] = ()

    @classmethod
    def zeros(cls, n_in: int, n_out: int, dtype: np.dtype | type) -> Affine:
        return cls(np.zeros((n_in, n_out), dtype=dtype), np.zeros(n_out, dtype=dtype))

    @classmethod
    def build(cls, settings, input_shape, dtype, rng=None) -> Affine:
        return cls.zeros(int(np.prod(input_shape)), settings["units"], dtype)

    @classmethod
    def held_values(cls, settings: dict[str, Any], input_shape: tuple[int, ...]) -> int:
        units = settings["units"]
        return 2 * (int(np.prod(input_shape, dtype=object)) * units + units)  # and grads

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], dtype: np.dtype, rng: np.random.Generator | None = None
    ) -> Affine:
        shapes = cls.spec_shapes(spec)
        return cls(np.zeros(shapes["W"], dtype), np.zeros(shapes["b"], dtype))

    @classmethod
    def spec_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        n_in, n_out = int(spec["in"]), int(spec["out"])
        return {"W": (n_in, n_out), "b": (n_out,)}

    def spec(self) -> dict[str, Any]:
        n_in, n_out = self.params["W"].shape
        return {"type": self.kind, "in": n_in, "out": n_out}

    def describe(self) -> str:
        n_in, n_out = self.params["W"].shape
        return f"affine {n_in}->{n_out}"  # the book's name for it

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.params["W"].shape[1],)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        return self.params["W"].size

    @property
    def fan_in(self) -> int:
        return self.params["W"].shape[0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self._x = x
        out = x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self._x is not None, "backward before forward"
        np.matmul(self._x.T, dout, out=self.grads["W"])
        np.sum(dout, axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return np.empty(0, dtype=dout.dtype)
        return (dout @ self.params["W"].T).reshape(self._x_shape)


@LAYERS.register("batchnorm", "normalise each feature (each channel of images) over the batch")
class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy, the book's chapter 6), (N, D) -> (N, D), or
    (N, C, H, W) -> (N, C, H, W) per channel over the batch and all positions (`spatial`).

    Training: each feature is normalised with the batch's mean and variance, then
    y = gamma * x_hat + beta, and the running moments move towards the batch's with
    `momentum`. Inference: the running moments are used instead, so one sample's
    output does not depend on the others in its batch.
    """

    settings = (
        Setting("momentum", float, 0.9, minimum=0, below=1),
        Setting("eps", float, 1e-5, above=0),
    )
    passes_scores = True
    repeatable = False

    def __init__(
        self,
        features: int,
        dtype,
        momentum: float = 0.9,
        eps: float = 1e-5,
        spatial: bool = False,
        positions: int = 1,
    ) -> None:
        """`positions`: the values of each channel one sample brings (H*W of the
        feature maps it is built for; 1 for dense outputs, or when unknown)."""
        super().__init__()
        self.momentum, self.eps, self.spatial = momentum, eps, spatial
        self.positions = positions
        self.params = {"gamma": np.ones(features, dtype), "beta": np.zeros(features, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(features, dtype),
            "running_var": np.ones(features, dtype),
        }

    @property
    def min_batch(self) -> int:  # type: ignore[override]
        """A statistic over one value is that value: the output would be beta, the
        gradient 0 and the running variance would move towards 0. Per unit of a dense
        output a batch brings N values, so N >= 2; per channel of feature maps it brings
        N*H*W, so one sample suffices when H*W > 1 (as PyTorch allows). Samplers never
        make smaller batches (data/batching.py); a caller that does gets an EngineError."""
        return 1 if self.positions > 1 else 2

    @classmethod
    def build(cls, settings, input_shape, dtype, rng=None) -> BatchNorm:
        spatial, features = cls._features(input_shape)
        positions = int(np.prod(input_shape[1:])) if spatial else 1
        return cls(features, dtype, settings["momentum"], settings["eps"], spatial, positions)

    @staticmethod
    def _features(input_shape: tuple[int, ...]) -> tuple[bool, int]:
        """Conv feature maps are normalised per channel; dense outputs per unit."""
        spatial = len(input_shape) == 3
        return spatial, input_shape[0] if spatial else int(np.prod(input_shape, dtype=object))

    @classmethod
    def held_values(cls, settings: dict[str, Any], input_shape: tuple[int, ...]) -> int:
        return 6 * cls._features(input_shape)[1]  # gamma, beta, their grads, the moments

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], dtype: np.dtype, rng: np.random.Generator | None = None
    ) -> BatchNorm:
        [features] = cls.spec_shapes(spec)["gamma"]
        return cls(
            features, dtype, float(spec["momentum"]), float(spec["eps"]), bool(spec["spatial"])
        )

    @classmethod
    def spec_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        features = (int(spec["features"]),)
        names = ("gamma", "beta", "running_mean", "running_var")
        return dict.fromkeys(names, features)

    def spec(self) -> dict[str, Any]:
        features = self.params["gamma"].shape[0]
        return {
            "type": self.kind, "features": features, "momentum": self.momentum,
            "eps": self.eps, "spatial": self.spatial,
        }  # fmt: skip

    def describe(self) -> str:
        return "batchnorm2d" if self.spatial else "batchnorm"  # PyTorch's names

    def forward(self, x: np.ndarray) -> np.ndarray:
        values = x.shape[0] * (int(np.prod(x.shape[2:])) if self.spatial else 1)
        if self.training and values < 2:
            raise EngineError(
                f"batchnorm cannot train on a batch of {x.shape[0]} sample: its mean is the "
                "sample itself, so the output is beta and the gradient 0; batches need at "
                "least 2 samples (a larger batch size, or more training data)"
            )
        if not self.spatial:
            return self._forward(x)
        self._shape = x.shape
        c = x.shape[1]
        # (N*H*W, C) as a view of the channel-major memory a conv leaves behind.
        return self._unflatten(self._forward(x.transpose(1, 0, 2, 3).reshape(c, -1).T))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self.spatial:
            return self._backward(dout)
        c = self._shape[1]
        return self._unflatten(self._backward(dout.transpose(1, 0, 2, 3).reshape(c, -1).T))

    def _unflatten(self, flat: np.ndarray) -> np.ndarray:
        n, c, h, w = self._shape
        return flat.T.reshape(c, n, h, w).transpose(1, 0, 2, 3)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.trained_forward = self.training
        if not self.training:
            scale = gamma / np.sqrt(self.buffers["running_var"] + self.eps)
            return (x - self.buffers["running_mean"]) * scale + beta
        mean = x.mean(axis=0)
        centred = x - mean
        var = (centred * centred).mean(axis=0)
        self._inv_std = 1.0 / np.sqrt(var + x.dtype.type(self.eps))
        self._x_hat = centred * self._inv_std
        m = x.dtype.type(self.momentum)
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= m
        running_mean += (1 - m) * mean
        running_var *= m
        running_var += (1 - m) * var
        return self._x_hat * gamma + beta

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        self.require_training_forward()
        n = dout.shape[0]
        np.sum(dout, axis=0, out=self.grads["beta"])
        np.sum(dout * self._x_hat, axis=0, out=self.grads["gamma"])
        dx_hat = dout * self.params["gamma"]
        # The compact form of the chain rule through mean and variance:
        # dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / std
        dx = dx_hat - dx_hat.sum(axis=0) / n
        dx -= self._x_hat * ((dx_hat * self._x_hat).sum(axis=0) / n)
        dx *= self._inv_std
        return dx


@LAYERS.register("dropout", "zero a random fraction of units while training")
class Dropout(Layer):
    """Dropout: in training each unit is kept with probability 1 - ratio.

    `scale="train"` (inverted dropout, the default) divides the kept units by
    1 - ratio while training, so inference is the identity. `scale="inference"` is the
    book's convention: training keeps the units as they are and inference multiplies
    everything by 1 - ratio; the book's pretrained networks need it.
    """

    SCALES = ("train", "inference")
    settings = (
        Setting("ratio", float, minimum=0, below=1),
        Setting("scale", str, "train", choices=SCALES),
    )
    shorthand = "ratio"
    passes_scores = True
    repeatable = False

    def __init__(
        self, ratio: float, rng: np.random.Generator | None = None, scale: str = "train"
    ) -> None:
        super().__init__()
        if not 0 <= ratio < 1:
            raise ValueError(f"dropout ratio must be in [0, 1), got {ratio}")
        if scale not in self.SCALES:
            raise ValueError(f"dropout scale must be one of {self.SCALES}, got {scale!r}")
        self.ratio, self.scale = ratio, scale
        # Masks come from the run's generator, so a seed fixes them; eval needs none.
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._mask: np.ndarray | None = None
        self._held = False

    @classmethod
    def build(cls, settings, input_shape, dtype, rng=None) -> Dropout:
        return cls(settings["ratio"], rng, settings["scale"])

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], dtype: np.dtype, rng: np.random.Generator | None = None
    ) -> Dropout:
        return cls(float(spec["ratio"]), rng, spec["scale"])

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "ratio": self.ratio, "scale": self.scale}

    def describe(self) -> str:
        book = " (book)" if self.scale == "inference" else ""
        return f"dropout {self.ratio:g}{book}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        keep = x.dtype.type(1 - self.ratio)
        self.trained_forward = self.training  # backward follows this forward's mode
        if not self.training or self.ratio == 0:
            return x * keep if self.scale == "inference" and self.ratio else x
        if not (self._held and self._mask is not None and self._mask.shape == x.shape):
            self._mask = self.rng.random(x.shape, dtype=np.float32) < keep
        return x * self._mask / keep if self.scale == "train" else x * self._mask

    def hold_randomness(self, hold: bool) -> None:
        self._held = hold

    def backward(self, dout: np.ndarray) -> np.ndarray:
        keep = dout.dtype.type(1 - self.ratio)
        if not self.trained_forward or self.ratio == 0:
            return dout * keep if self.scale == "inference" and self.ratio else dout
        return dout * self._mask / keep if self.scale == "train" else dout * self._mask
