"""Convolution and pooling layers on (N, C, H, W) batches, the book's chapter 7.

im2col copies kh*kw strided slices (one per kernel position, each covering all
channels, samples and positions) into a buffer that is reused while the shapes stay
the same, then one matrix product per layer. The way back (col2im) adds the same
slices into the input gradient: loops over the kernel window, never over pixels or
samples. Max pooling whose window tiles the input (2x2, stride 2) works on strided
views instead of gathering. Feature maps keep the public (N, C, H, W) shape while
their memory is channel-major (C, N, H, W), the order the matrix products produce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlzero_cli.engine.layers import LAYERS, BatchNorm, Layer, Scratch


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


def _col2im_add(
    target: np.ndarray, patches: np.ndarray, kh: int, kw: int, stride: int, oh: int, ow: int
) -> None:
    """Add (N, C, OH, OW, kh, kw) window gradients back onto (N, C, Hp, Wp) `target`."""
    for i in range(kh):
        for j in range(kw):
            target[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += patches[
                ..., i, j
            ]


@LAYERS.register("conv", "2-D convolution: filters x channels x kh x kw, stride, padding")
class Conv2D(Layer):
    """(N, C, H, W) -> (N, F, OH, OW) with W (F, C, kh, kw) and b (F,), the book's layout.

    im2col is built "channel-major": col[(c, i, j), (n, y, x)] = x[n, c, y*s + i, x*s + j],
    one strided slice copy per kernel position (kh*kw copies, each of all channels,
    samples and positions at once) into a buffer reused from batch to batch. Then
    out = W (F, C*kh*kw) @ col is one matrix product, and it lands in memory as
    (F, N, OH, OW): the returned array is that memory seen as (N, F, OH, OW). The
    pooling and activation layers after it work in that layout without copying.
    """

    kind = "conv"
    decayed = ("W",)

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.stride, self.pad = stride, pad
        self.needs_input_grad = True  # the network turns this off for its first layer
        self._scratch = Scratch()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], dtype: np.dtype, rng=None) -> Conv2D:
        shape = (spec["filters"], spec["channels"], *spec["kernel"])
        return cls(
            np.zeros(shape, dtype), np.zeros(spec["filters"], dtype), spec["stride"], spec["pad"]
        )

    def spec(self) -> dict[str, Any]:
        filters, channels, kh, kw = self.params["W"].shape
        return {
            "type": self.kind, "filters": filters, "channels": channels, "kernel": [kh, kw],
            "stride": self.stride, "pad": self.pad,
        }  # fmt: skip

    @property
    def fan_in(self) -> int:
        return int(np.prod(self.params["W"].shape[1:]))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        filters, _, kh, kw = self.params["W"].shape
        _, h, w = input_shape
        return (
            filters,
            conv_output_size(h, kh, self.stride, self.pad),
            conv_output_size(w, kw, self.stride, self.pad),
        )

    def macs(self, input_shape: tuple[int, ...]) -> int:
        _, oh, ow = self.output_shape(input_shape)
        return self.params["W"].size * oh * ow

    def forward(self, x: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        filters, channels, kh, kw = W.shape
        n, _, h, w = x.shape
        s, p = self.stride, self.pad
        oh, ow = conv_output_size(h, kh, s, p), conv_output_size(w, kw, s, p)
        self._x_shape, self._out_hw = x.shape, (oh, ow)
        source = _pad(x, p).transpose(1, 0, 2, 3)  # (C, N, H, W) view
        rows = channels * kh * kw
        # One extra row of ones carries the bias through the matrix product.
        col_ones = self._scratch.get("col", (rows + 1, n * oh * ow), x.dtype)
        col_ones[rows] = 1
        col = col_ones[:rows].reshape(channels, kh, kw, n, oh, ow)
        for i in range(kh):
            for j in range(kw):
                col[:, i, j] = source[:, :, i : i + s * oh : s, j : j + s * ow : s]
        self._col_ones = col_ones
        weights = self._scratch.get("W_b", (filters, rows + 1), x.dtype)
        weights[:, :rows] = W.reshape(filters, -1)
        weights[:, rows] = self.params["b"]
        out = self._scratch.get("out", (filters, n * oh * ow), x.dtype)
        np.matmul(weights, col_ones, out=out)
        return out.reshape(filters, n, oh, ow).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        filters, channels, kh, kw = W.shape
        n = dout.shape[0]
        oh, ow = self._out_hw
        dout_matrix = dout.transpose(1, 0, 2, 3).reshape(filters, n * oh * ow)
        # Against the row of ones, the same product gives the bias gradient.
        both = self._scratch.get("dW_db", (filters, channels * kh * kw + 1), dout.dtype)
        np.matmul(dout_matrix, self._col_ones.T, out=both)
        self.grads["W"].reshape(filters, -1)[...] = both[:, :-1]
        self.grads["b"][...] = both[:, -1]
        if not self.needs_input_grad:
            return np.empty(0, dtype=dout.dtype)
        patches = (W.reshape(filters, -1).T @ dout_matrix).reshape(channels, kh, kw, n, oh, ow)
        _, _, h, w = self._x_shape
        p, s = self.pad, self.stride
        dx = np.zeros((channels, n, h + 2 * p, w + 2 * p), dtype=dout.dtype)
        for i in range(kh):
            for j in range(kw):
                dx[:, :, i : i + s * oh : s, j : j + s * ow : s] += patches[:, i, j]
        if p:
            dx = dx[:, :, p:-p, p:-p]
        return dx.transpose(1, 0, 2, 3)


class _Pool(Layer):
    """Shared shape logic of the pooling layers: a size x size window, stride, padding."""

    def __init__(self, size: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__()
        self.size, self.stride, self.pad = size, stride or size, pad

    @classmethod
    def from_spec(cls, spec: dict[str, Any], dtype: np.dtype, rng=None) -> _Pool:
        return cls(spec["size"], spec["stride"], spec["pad"])

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "size": self.size, "stride": self.stride, "pad": self.pad}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = input_shape
        return (
            c,
            conv_output_size(h, self.size, self.stride, self.pad),
            conv_output_size(w, self.size, self.stride, self.pad),
        )

    def _tiles(self, x: np.ndarray) -> bool:
        """The windows cover the input exactly once: pooling is a reshape."""
        return (
            self.pad == 0
            and self.stride == self.size
            and x.shape[2] % self.size == 0
            and x.shape[3] % self.size == 0
        )


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

    kind = "maxpool"

    def __init__(self, size: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(size, stride, pad)
        self._scratch = Scratch()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        if self._tiles(x):
            return self._forward_tiles(x)
        n, c, h, w = x.shape
        k, s = self.size, self.stride
        windows = _windows(_pad(x, self.pad, -np.inf), k, k, s)
        flat = windows.reshape(*windows.shape[:4], k * k)
        self._argmax = flat.argmax(axis=-1)
        return np.take_along_axis(flat, self._argmax[..., None], axis=-1)[..., 0]

    def _forward_tiles(self, x: np.ndarray) -> np.ndarray:
        k = self.size
        channel_major = np.ascontiguousarray(x.transpose(1, 0, 2, 3))  # free after a conv
        views = [channel_major[:, :, i::k, j::k] for i in range(k) for j in range(k)]
        scratch = self._scratch
        out = scratch.get("out", views[0].shape, x.dtype)
        np.copyto(out, views[0])
        for view in views[1:]:
            np.maximum(out, view, out=out)
        if self.training:
            # Where each maximum came from, the first position winning ties; `free`
            # marks outputs whose winner is still open (in-place ops, no temporaries).
            free = scratch.get("free", out.shape, np.bool_)
            free[...] = True
            self._winners = []
            for index, view in enumerate(views[:-1]):
                winner = np.equal(view, out, out=scratch.get(f"winner{index}", out.shape, np.bool_))
                winner &= free
                free ^= winner
                self._winners.append(winner)
            self._winners.append(free)  # no earlier position held the maximum
        return out.transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, c, h, w = self._x_shape
        k, s = self.size, self.stride
        if self.pad == 0 and s == k and h % k == 0 and w % k == 0:
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
        _col2im_add(dx, flat.reshape(n, c, oh, ow, k, k), k, k, s, oh, ow)
        return _unpad(dx, self.pad)


@LAYERS.register("avgpool", "the mean of each window")
class AvgPool2D(_Pool):
    """(N, C, H, W) -> (N, C, OH, OW); padding counts as zeros in the mean."""

    kind = "avgpool"

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        k = self.size
        self._x_shape = x.shape
        if self._tiles(x):
            return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))
        return _windows(_pad(x, self.pad), k, k, self.stride).mean(axis=(4, 5))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, c, h, w = self._x_shape
        k, s = self.size, self.stride
        oh, ow = dout.shape[2], dout.shape[3]
        share = dout / dout.dtype.type(k * k)
        dx = np.zeros((n, c, h + 2 * self.pad, w + 2 * self.pad), dtype=dout.dtype)
        patches = np.broadcast_to(share[..., None, None], (n, c, oh, ow, k, k))
        _col2im_add(dx, patches, k, k, s, oh, ow)
        return _unpad(dx, self.pad)


@LAYERS.register("flatten", "(N, C, H, W) -> (N, C*H*W)")
class Flatten(Layer):
    kind = "flatten"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._x_shape)


@LAYERS.register("batchnorm2d", "batch norm per channel over (N, H, W), for conv feature maps")
class BatchNorm2D(BatchNorm):
    """Spatial batch norm: each channel normalised over the batch and all positions."""

    kind = "batchnorm2d"

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        self._shape = x.shape
        # (N*H*W, C) as a view of the channel-major memory a conv leaves behind.
        flat = x.transpose(1, 0, 2, 3).reshape(c, -1).T
        return self._unflatten(super().forward(flat))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        c = self._shape[1]
        flat = dout.transpose(1, 0, 2, 3).reshape(c, -1).T
        return self._unflatten(super().backward(flat))

    def _unflatten(self, flat: np.ndarray) -> np.ndarray:
        n, c, h, w = self._shape
        return flat.T.reshape(c, n, h, w).transpose(1, 0, 2, 3)


class ConvReluPool:
    """Conv2D -> ReLU -> MaxPool2D run as one step when the pooling tiles the conv output.

    The im2col columns are ordered pooling-window-position first: column (di, dj, n, y, x)
    is conv output (n, y*k + di, x*k + dj). The matrix product then lays the k*k values
    of every pooling window in k*k contiguous blocks, so max pooling is a running
    maximum over whole blocks, and on the way back the weight gradient is one product
    per block with the pooled gradient: the full-size gradient map is never built.
    Values are those of the three layers run one by one (floating-point sums may be
    grouped differently); the parameters and gradients are the Conv2D layer's.
    """

    def __init__(self, conv: Conv2D, relu: Layer, pool: MaxPool2D) -> None:
        self.conv, self.relu, self.pool = conv, relu, pool
        self._scratch = Scratch()
        self._fused = False

    def _fits(self, x: np.ndarray) -> bool:
        _, _, kh, kw = self.conv.params["W"].shape
        oh = conv_output_size(x.shape[2], kh, self.conv.stride, self.conv.pad)
        ow = conv_output_size(x.shape[3], kw, self.conv.stride, self.conv.pad)
        k = self.pool.size
        return self.pool.pad == 0 and self.pool.stride == k and oh % k == 0 and ow % k == 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._fused = self._fits(x)
        if not self._fused:  # the layers one by one (pooling first: see _execution_order)
            return self.relu.forward(self.pool.forward(self.conv.forward(x)))
        conv, k = self.conv, self.pool.size
        W, b = conv.params["W"], conv.params["b"]
        filters, channels, kh, kw = W.shape
        n, _, h, w = x.shape
        s, p = conv.stride, conv.pad
        ph = conv_output_size(h, kh, s, p) // k
        pw = conv_output_size(w, kw, s, p) // k
        blocks, q = k * k, n * ph * pw
        rows = channels * kh * kw
        self._x_shape, self._dims = x.shape, (filters, channels, kh, kw, n, ph, pw, k, q)
        source = _pad(x, p).transpose(1, 0, 2, 3)  # (C, N, H, W)
        col_ones = self._scratch.get("col", (rows + 1, blocks * q), x.dtype)
        col_ones[rows] = 1  # the bias rides along the product
        col = col_ones[:rows].reshape(channels, kh, kw, k, k, n, ph, pw)
        for i in range(kh):
            for j in range(kw):
                window = source[:, :, i : i + s * k * ph : s, j : j + s * k * pw : s]
                col[:, i, j] = window.reshape(channels, n, ph, k, pw, k).transpose(0, 3, 5, 1, 2, 4)
        self._col_ones = col_ones
        weights = self._scratch.get("W_b", (filters, rows + 1), x.dtype)
        weights[:, :rows] = W.reshape(filters, -1)
        weights[:, rows] = b
        out = self._scratch.get("out", (filters, blocks * q), x.dtype)
        np.matmul(weights, col_ones, out=out)
        parts = [out[:, m * q : (m + 1) * q] for m in range(blocks)]
        pooled = self._scratch.get("pooled", (filters, q), x.dtype)
        np.copyto(pooled, parts[0])
        for part in parts[1:]:
            np.maximum(pooled, part, out=pooled)
        if conv.training:
            free = self._scratch.get("free", pooled.shape, np.bool_)
            free[...] = True
            self._winners = []
            for m, part in enumerate(parts[:-1]):
                winner = np.equal(
                    part, pooled, out=self._scratch.get(f"w{m}", pooled.shape, np.bool_)
                )
                winner &= free
                free ^= winner
                self._winners.append(winner)
            self._winners.append(free)
            self._positive = np.greater(
                pooled, 0, out=self._scratch.get("mask", pooled.shape, np.bool_)
            )
        result = np.maximum(pooled, 0, out=self._scratch.get("result", pooled.shape, x.dtype))
        return result.reshape(filters, n, ph, pw).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self._fused:
            return self.conv.backward(self.pool.backward(self.relu.backward(dout)))
        conv = self.conv
        filters, channels, kh, kw, n, ph, pw, k, q = self._dims
        rows = channels * kh * kw
        grad = self._scratch.get("grad", (filters, q), dout.dtype)
        # Read dout through its (C, N, H, W) view: no copy of it first.
        np.multiply(
            dout.transpose(1, 0, 2, 3),
            self._positive.reshape(filters, n, ph, pw),
            out=grad.reshape(filters, n, ph, pw),
        )
        both = self._scratch.get("dW_db", (filters, rows + 1), dout.dtype)
        part = self._scratch.get("part", (filters, rows + 1), dout.dtype)
        block = self._scratch.get("block", (filters, q), dout.dtype)
        both[...] = 0
        blocks = []
        for m, winner in enumerate(self._winners):
            np.multiply(grad, winner, out=block)
            np.matmul(block, self._col_ones[:, m * q : (m + 1) * q].T, out=part)
            both += part
            if conv.needs_input_grad:
                blocks.append(block.copy())
        conv.grads["W"].reshape(filters, -1)[...] = both[:, :rows]
        conv.grads["b"][...] = both[:, rows]
        if not conv.needs_input_grad:
            return np.empty(0, dtype=dout.dtype)
        full = np.concatenate(blocks, axis=1)  # (F, k*k*Q): the conv output's gradient
        patches = (conv.params["W"].reshape(filters, -1).T @ full).reshape(
            channels, kh, kw, k, k, n, ph, pw
        )
        _, _, h, w = self._x_shape
        s, p = conv.stride, conv.pad
        dx = np.zeros((channels, n, h + 2 * p, w + 2 * p), dtype=dout.dtype)
        for i in range(kh):
            for j in range(kw):
                target = dx[:, :, i : i + s * k * ph : s, j : j + s * k * pw : s]
                target.reshape(channels, n, ph, k, pw, k)[...] += patches[:, i, j].transpose(
                    0, 3, 4, 1, 5, 2
                )
        return _unpad(dx, p).transpose(1, 0, 2, 3)
