"""Convolution and pooling layers on (N, C, H, W) batches, the book's chapter 7.

im2col copies kh*kw strided slices (one per kernel position, each covering all
channels, samples and positions) into a scratch array reused while the shapes stay
the same, then one matrix product per layer. The way back (col2im) adds the same
slices into the input gradient: loops over the kernel window, never over pixels or
samples. Max pooling whose window tiles the input (2x2, stride 2) works on strided
views instead of gathering. Feature maps keep the public (N, C, H, W) shape while
their memory is channel-major (C, N, H, W), the order the matrix products produce.

`im2col`, `col2im`, `running_max` and `first_max_masks` are the building blocks the
layers here and the fused conv-ReLU-pool step (engine/fused.py) share.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlzero_cli.engine.declaration import INIT_SETTING, Setting, ShapeError, image_shape
from dlzero_cli.engine.layers import LAYERS, Layer
from dlzero_cli.engine.scratch import Scratch


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _pad(x: np.ndarray, pad: int, value: float = 0.0) -> np.ndarray:
    if pad == 0:
        return x
    widths = ((0, 0), (0, 0), (pad, pad), (pad, pad))
    return np.pad(x, widths, constant_values=value)


def _unpad(x: np.ndarray, pad: int) -> np.ndarray:
    return x[:, :, pad:-pad, pad:-pad] if pad else x


def _windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """(N, C, OH, OW, kh, kw) view of every kh x kw window, `stride` apart."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def _add_window_grads(
    target: np.ndarray, patches: np.ndarray, kh: int, kw: int, stride: int, oh: int, ow: int
) -> None:
    """Add (N, C, OH, OW, kh, kw) window gradients back onto (N, C, Hp, Wp) `target`."""
    for i in range(kh):
        for j in range(kw):
            target[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += patches[
                ..., i, j
            ]


# --------------------------------------------------------------------------- building blocks


def im2col(
    scratch: Scratch, x: np.ndarray, kh: int, kw: int, stride: int, pad: int, block: int = 1
) -> np.ndarray:
    """(C*kh*kw + 1, N*OH*OW) columns of x's windows; the last row is ones (the bias).

    Channel-major: col[(c, i, j), (n, y, x)] = x[n, c, y*s + i, x*s + j], one strided
    slice copy per kernel position into a scratch array reused from call to call. With
    `block` k > 1 the columns are ordered by position in a k x k pooling window first:
    column (di, dj, n, y, x) holds conv output (n, y*k + di, x*k + dj), so a product
    with these columns lays each pooling window's values in k*k contiguous blocks
    (OH and OW must be multiples of k).
    """
    n, channels, h, w = x.shape
    k, s = block, stride
    ph = conv_output_size(h, kh, s, pad) // k
    pw = conv_output_size(w, kw, s, pad) // k
    rows = channels * kh * kw
    source = _pad(x, pad).transpose(1, 0, 2, 3)  # (C, N, H, W) view
    col_ones = scratch.get("col", (rows + 1, k * k * n * ph * pw), x.dtype)
    col_ones[rows] = 1
    col = col_ones[:rows].reshape(channels, kh, kw, k, k, n, ph, pw)
    for i in range(kh):
        for j in range(kw):
            window = source[:, :, i : i + s * k * ph : s, j : j + s * k * pw : s]
            col[:, i, j] = window.reshape(channels, n, ph, k, pw, k).transpose(0, 3, 5, 1, 2, 4)
    return col_ones


def col2im(
    grad_col: np.ndarray,
    x_shape: tuple[int, ...],
    kh: int,
    kw: int,
    stride: int,
    pad: int,
    block: int = 1,
) -> np.ndarray:
    """The input gradient (N, C, H, W) from the (C*kh*kw, columns) gradient of `im2col`'s
    columns (the same `block` order): each kernel position's slice added back."""
    n, channels, h, w = x_shape
    k, s, p = block, stride, pad
    ph = conv_output_size(h, kh, s, p) // k
    pw = conv_output_size(w, kw, s, p) // k
    patches = grad_col.reshape(channels, kh, kw, k, k, n, ph, pw)
    dx = np.zeros((channels, n, h + 2 * p, w + 2 * p), dtype=grad_col.dtype)
    for i in range(kh):
        for j in range(kw):
            target = dx[:, :, i : i + s * k * ph : s, j : j + s * k * pw : s]
            # A view (the strides split evenly), so += lands in dx.
            target.reshape(channels, n, ph, k, pw, k)[...] += patches[:, i, j].transpose(
                0, 3, 4, 1, 5, 2
            )
    return _unpad(dx, p).transpose(1, 0, 2, 3)


def weights_with_bias(scratch: Scratch, conv: Conv2D, dtype: np.dtype) -> np.ndarray:
    """(F, C*kh*kw + 1): the filters as rows with the bias as the last column, to
    multiply `im2col`'s columns (whose last row is ones)."""
    W = conv.params["W"]
    filters = W.shape[0]
    rows = W[0].size
    packed = scratch.get("W_b", (filters, rows + 1), dtype)
    packed[:, :rows] = W.reshape(filters, -1)
    packed[:, rows] = conv.params["b"]
    return packed


def store_weight_grads(conv: Conv2D, with_bias: np.ndarray) -> None:
    """Split an (F, C*kh*kw + 1) gradient (the product against the row of ones gives the
    bias's) into the layer's W and b gradients."""
    filters = with_bias.shape[0]
    conv.grads["W"].reshape(filters, -1)[...] = with_bias[:, :-1]
    conv.grads["b"][...] = with_bias[:, -1]


def running_max(parts: list[np.ndarray], out: np.ndarray) -> np.ndarray:
    """The element-wise maximum of equally shaped `parts`, into `out`."""
    np.copyto(out, parts[0])
    for part in parts[1:]:
        np.maximum(out, part, out=out)
    return out


def first_max_masks(
    scratch: Scratch, parts: list[np.ndarray], maximum: np.ndarray
) -> list[np.ndarray]:
    """Per part, where it holds `maximum`, the first part winning ties: the path the
    gradient of a max takes. In-place ops into reused masks, no temporaries."""
    free = scratch.get("free", maximum.shape, np.bool_)  # outputs whose winner is open
    free[...] = True
    masks = []
    for index, part in enumerate(parts[:-1]):
        winner = np.equal(part, maximum, out=scratch.get(f"winner{index}", maximum.shape, np.bool_))
        winner &= free
        free ^= winner
        masks.append(winner)
    masks.append(free)  # no earlier part held the maximum
    return masks


# --------------------------------------------------------------------------- layers


@LAYERS.register("conv", "2-D convolution: filters x channels x kh x kw, stride, padding")
class Conv2D(Layer):
    """(N, C, H, W) -> (N, F, OH, OW) with W (F, C, kh, kw) and b (F,), the book's layout.

    Forward is `im2col` then one matrix product W (F, C*kh*kw) @ col, whose result lands
    in memory as (F, N, OH, OW): the returned array is that memory seen as
    (N, F, OH, OW). The pooling and activation layers after it work in that layout
    without copying.
    """

    settings = (
        Setting("filters", int, minimum=1),
        Setting("kernel", int, minimum=1, pair=True),
        Setting("stride", int, 1, minimum=1),
        Setting("padding", int, 0, minimum=0),
        INIT_SETTING,
    )
    weighted = True
    decayed = ("W",)
    book_name = "Convolution"

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.stride, self.pad = stride, pad
        self.needs_input_grad = True  # the network turns this off for its first layer
        self._scratch = Scratch()

    @classmethod
    def build(cls, settings, input_shape, dtype, rng=None) -> Conv2D:
        channels, _, _ = image_shape(input_shape, cls.kind)
        kernel = settings["kernel"]
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        W = np.zeros((settings["filters"], channels, kh, kw), dtype)
        return cls(W, np.zeros(settings["filters"], dtype), settings["stride"], settings["padding"])

    @classmethod
    def held_values(cls, settings: dict[str, Any], input_shape: tuple[int, ...]) -> int:
        kernel = settings["kernel"]
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        channels = input_shape[0] if len(input_shape) == 3 else 0  # else build's ShapeError
        return 2 * (settings["filters"] * channels * kh * kw + settings["filters"])

    def cache_values(self, input_shape: tuple[int, ...]) -> int:
        """The unfolded input (im2col): a column of fan_in values per output position."""
        _, oh, ow = self.output_shape(input_shape)
        return self.fan_in * oh * ow

    @classmethod
    def from_spec(cls, spec: dict[str, Any], dtype: np.dtype, rng=None) -> Conv2D:
        shapes = cls.spec_shapes(spec)
        return cls(
            np.zeros(shapes["W"], dtype), np.zeros(shapes["b"], dtype), spec["stride"],
            spec["padding"],
        )  # fmt: skip

    @classmethod
    def spec_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        kh, kw = (int(k) for k in spec["kernel"])
        filters = int(spec["filters"])
        return {"W": (filters, int(spec["channels"]), kh, kw), "b": (filters,)}

    def spec(self) -> dict[str, Any]:
        filters, channels, kh, kw = self.params["W"].shape
        return {
            "type": self.kind, "filters": filters, "channels": channels, "kernel": [kh, kw],
            "stride": self.stride, "padding": self.pad,
        }  # fmt: skip

    def describe(self) -> str:
        filters, _, kh, kw = self.params["W"].shape
        return f"conv {filters}x{kh}x{kw}" + _stride_pad(self.stride, self.pad, 1)

    @property
    def fan_in(self) -> int:
        return int(np.prod(self.params["W"].shape[1:]))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        filters, _, kh, kw = self.params["W"].shape
        _, h, w = image_shape(input_shape, self.kind)
        oh = conv_output_size(h, kh, self.stride, self.pad)
        ow = conv_output_size(w, kw, self.stride, self.pad)
        if oh < 1 or ow < 1:
            raise ShapeError(
                f"a {kh}x{kw} kernel with padding {self.pad} does not fit the {h}x{w} input; "
                "use a smaller kernel or more padding",
                "kernel",
            )
        return (filters, oh, ow)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        _, oh, ow = self.output_shape(input_shape)
        return self.params["W"].size * oh * ow

    def forward(self, x: np.ndarray) -> np.ndarray:
        filters, _, kh, kw = self.params["W"].shape
        n, _, h, w = x.shape
        oh = conv_output_size(h, kh, self.stride, self.pad)
        ow = conv_output_size(w, kw, self.stride, self.pad)
        self._x_shape, self._out_hw = x.shape, (oh, ow)
        self._col_ones = im2col(self._scratch, x, kh, kw, self.stride, self.pad)
        weights = weights_with_bias(self._scratch, self, x.dtype)
        out = self._scratch.get("out", (filters, n * oh * ow), x.dtype)
        np.matmul(weights, self._col_ones, out=out)
        return out.reshape(filters, n, oh, ow).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        filters, _, kh, kw = W.shape
        n = dout.shape[0]
        oh, ow = self._out_hw
        dout_matrix = dout.transpose(1, 0, 2, 3).reshape(filters, n * oh * ow)
        # Against the row of ones, the same product gives the bias gradient.
        both = self._scratch.get("dW_db", (filters, W[0].size + 1), dout.dtype)
        np.matmul(dout_matrix, self._col_ones.T, out=both)
        store_weight_grads(self, both)
        if not self.needs_input_grad:
            return np.empty(0, dtype=dout.dtype)
        grad_col = W.reshape(filters, -1).T @ dout_matrix
        return col2im(grad_col, self._x_shape, kh, kw, self.stride, self.pad)


def _stride_pad(stride: int, pad: int, usual_stride: int) -> str:
    """' stride 2 pad 1', leaving out the usual values."""
    text = f" stride {stride}" if stride != usual_stride else ""
    return text + (f" pad {pad}" if pad else "")


class _Pool(Layer):
    """Shared shape logic of the pooling layers: a size x size window, stride, padding."""

    settings = (
        Setting("size", int, minimum=1),
        Setting("stride", int, None, minimum=1, nullable=True),  # null: the window size
        Setting("padding", int, 0, minimum=0),
    )
    shorthand = "size"
    book_name = "Pooling"

    def __init__(self, size: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__()
        self.size, self.stride, self.pad = size, stride or size, pad

    @classmethod
    def build(cls, settings, input_shape, dtype, rng=None) -> _Pool:
        image_shape(input_shape, cls.kind)
        return cls(settings["size"], settings["stride"], settings["padding"])

    @classmethod
    def from_spec(cls, spec: dict[str, Any], dtype: np.dtype, rng=None) -> _Pool:
        return cls(spec["size"], spec["stride"], spec["padding"])

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "size": self.size, "stride": self.stride, "padding": self.pad}

    def describe(self) -> str:
        return f"{self.kind} {self.size}x{self.size}" + _stride_pad(
            self.stride, self.pad, self.size
        )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = image_shape(input_shape, self.kind)
        if 2 * self.pad > self.size:
            # PyTorch's rule too. From padding = size on, some windows hold only padding:
            # max pooling's -inf fill would come out as -inf (NaN after the next layer).
            raise ShapeError(
                f"got {self.pad}; padding may be at most half the {self.size}x{self.size} "
                f"window ({self.size // 2}), or windows would hold nothing but padding",
                "padding",
            )
        oh = conv_output_size(h, self.size, self.stride, self.pad)
        ow = conv_output_size(w, self.size, self.stride, self.pad)
        if oh < 1 or ow < 1:
            raise ShapeError(f"a {self.size}x{self.size} window does not fit the {h}x{w} input")
        return (c, oh, ow)

    def tiles(self, height: int, width: int) -> bool:
        """The windows cover a height x width input exactly once: pooling is a reshape."""
        k = self.size
        return self.pad == 0 and self.stride == k and height % k == 0 and width % k == 0


@LAYERS.register("maxpool", "the largest value of each window")
class MaxPool2D(_Pool):
    """(N, C, H, W) -> (N, C, OH, OW); the gradient goes to each window's (first) maximum.

    When the windows tile the input (the usual 2x2, stride 2), the k*k window positions
    are k*k strided views of the input, and the maximum is a running np.maximum over
    them: no gathering, no argmax. Training also keeps, per position, where the maximum
    was (first one wins), and the way back writes the gradient through the same views.
    The work is done on the (C, N, H, W) view, which is how Conv2D's output already
    lies in memory.
    """

    def __init__(self, size: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(size, stride, pad)
        self._scratch = Scratch()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        self.trained_forward = self.training
        self._tiled = self.tiles(x.shape[2], x.shape[3])  # backward takes the same path
        if self._tiled:
            return self._forward_tiles(x)
        k, s = self.size, self.stride
        windows = _windows(_pad(x, self.pad, -np.inf), k, k, s)
        flat = windows.reshape(*windows.shape[:4], k * k)
        self._argmax = flat.argmax(axis=-1)
        return np.take_along_axis(flat, self._argmax[..., None], axis=-1)[..., 0]

    def _forward_tiles(self, x: np.ndarray) -> np.ndarray:
        k = self.size
        channel_major = np.ascontiguousarray(x.transpose(1, 0, 2, 3))  # free after a conv
        views = [channel_major[:, :, i::k, j::k] for i in range(k) for j in range(k)]
        out = running_max(views, self._scratch.get("out", views[0].shape, x.dtype))
        if self.training:
            self._winners = first_max_masks(self._scratch, views, out)
        return out.transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.require_training_forward()  # the tiled path keeps its winners in training only
        n, c, h, w = self._x_shape
        k, s = self.size, self.stride
        if self._tiled:
            grad = dout.transpose(1, 0, 2, 3)
            dx = self._scratch.get("dx", (c, n, h, w), dout.dtype)
            positions = [(i, j) for i in range(k) for j in range(k)]
            for (i, j), winner in zip(positions, self._winners, strict=True):
                np.multiply(grad, winner, out=dx[:, :, i::k, j::k])
            return dx.transpose(1, 0, 2, 3)
        oh, ow = dout.shape[2], dout.shape[3]
        flat = np.zeros((n, c, oh, ow, k * k), dtype=dout.dtype)
        np.put_along_axis(flat, self._argmax[..., None], dout[..., None], axis=-1)
        dx = np.zeros((n, c, h + 2 * self.pad, w + 2 * self.pad), dtype=dout.dtype)
        _add_window_grads(dx, flat.reshape(n, c, oh, ow, k, k), k, k, s, oh, ow)
        return _unpad(dx, self.pad)


@LAYERS.register("avgpool", "the mean of each window")
class AvgPool2D(_Pool):
    """(N, C, H, W) -> (N, C, OH, OW); padding counts as zeros in the mean."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        k = self.size
        self._x_shape = x.shape
        if self.tiles(h, w):
            return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))
        return _windows(_pad(x, self.pad), k, k, self.stride).mean(axis=(4, 5))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, c, h, w = self._x_shape
        k, s = self.size, self.stride
        oh, ow = dout.shape[2], dout.shape[3]
        share = dout / dout.dtype.type(k * k)
        dx = np.zeros((n, c, h + 2 * self.pad, w + 2 * self.pad), dtype=dout.dtype)
        patches = np.broadcast_to(share[..., None, None], (n, c, oh, ow, k, k))
        _add_window_grads(dx, patches, k, k, s, oh, ow)
        return _unpad(dx, self.pad)


@LAYERS.register("flatten", "(N, C, H, W) -> (N, C*H*W)")
class Flatten(Layer):
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._x_shape)
