"""Convolution and pooling layers on (N, C, H, W) batches, the book's chapter 7.

im2col is a strided view (`sliding_window_view`), copied once per batch into a buffer
that is reused while the shapes stay the same, then one matrix product per layer. The
way back (col2im) adds the window's kh x kw slices into the input gradient: a loop over
the kernel window, never over pixels or samples. Max pooling whose window tiles the
input (2x2, stride 2) reshapes instead of gathering.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlzero_cli.engine.layers import LAYERS, BatchNorm, Layer


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _pad(x: np.ndarray, pad: int, value: float = 0.0) -> np.ndarray:
    if pad == 0:
        return x
    widths = ((0, 0), (0, 0), (pad, pad), (pad, pad))
    return np.pad(x, widths, constant_values=value)


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


class _Buffer:
    """A scratch array reused from batch to batch while its shape stays the same."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def get(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if self.array is None or self.array.shape != shape or self.array.dtype != dtype:
            self.array = np.empty(shape, dtype=dtype)
        return self.array


@LAYERS.register("conv", "2-D convolution: filters x channels x kh x kw, stride, padding")
class Conv2D(Layer):
    """(N, C, H, W) -> (N, F, OH, OW) with W (F, C, kh, kw) and b (F,), the book's layout."""

    kind = "conv"
    decayed = ("W",)

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.stride, self.pad = stride, pad
        self.needs_input_grad = True  # the network turns this off for its first layer
        self._col = _Buffer()

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
        n = x.shape[0]
        self._x_shape = x.shape
        windows = _windows(_pad(x, self.pad), kh, kw, self.stride)
        oh, ow = windows.shape[2], windows.shape[3]
        col = self._col.get((n, oh, ow, channels, kh, kw), x.dtype)
        np.copyto(col, windows.transpose(0, 2, 3, 1, 4, 5))  # the one im2col copy
        col = col.reshape(n * oh * ow, channels * kh * kw)
        self._col_matrix, self._out_hw = col, (oh, ow)
        out = col @ W.reshape(filters, -1).T
        out += self.params["b"]
        return out.reshape(n, oh, ow, filters).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        filters, channels, kh, kw = W.shape
        n = dout.shape[0]
        oh, ow = self._out_hw
        dout_matrix = dout.transpose(0, 2, 3, 1).reshape(n * oh * ow, filters)
        np.sum(dout_matrix, axis=0, out=self.grads["b"])
        np.matmul(dout_matrix.T, self._col_matrix, out=self.grads["W"].reshape(filters, -1))
        if not self.needs_input_grad:
            return np.empty(0, dtype=dout.dtype)
        patches = (dout_matrix @ W.reshape(filters, -1)).reshape(n, oh, ow, channels, kh, kw)
        _, _, h, w = self._x_shape
        dx = np.zeros((n, channels, h + 2 * self.pad, w + 2 * self.pad), dtype=dout.dtype)
        _col2im_add(dx, patches.transpose(0, 3, 1, 2, 4, 5), kh, kw, self.stride, oh, ow)
        if self.pad:
            dx = dx[:, :, self.pad : -self.pad, self.pad : -self.pad]
        return dx


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
    """(N, C, H, W) -> (N, C, OH, OW); the gradient goes to each window's (first) maximum."""

    kind = "maxpool"

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        k, s = self.size, self.stride
        self._x_shape = x.shape
        if self._tiles(x):
            tiles = x.reshape(n, c, h // k, k, w // k, k)
            if not self.training:
                return tiles.max(axis=(3, 5))
            flat = tiles.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)
        else:
            windows = _windows(_pad(x, self.pad, -np.inf), k, k, s)
            flat = windows.reshape(*windows.shape[:4], k * k)
        self._argmax = flat.argmax(axis=-1)
        return np.take_along_axis(flat, self._argmax[..., None], axis=-1)[..., 0]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, c, h, w = self._x_shape
        k, s = self.size, self.stride
        oh, ow = dout.shape[2], dout.shape[3]
        flat = np.zeros((n, c, oh, ow, k * k), dtype=dout.dtype)
        np.put_along_axis(flat, self._argmax[..., None], dout[..., None], axis=-1)
        if self.pad == 0 and s == k and h % k == 0 and w % k == 0:
            return flat.reshape(n, c, oh, ow, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
        dx = np.zeros((n, c, h + 2 * self.pad, w + 2 * self.pad), dtype=dout.dtype)
        _col2im_add(dx, flat.reshape(n, c, oh, ow, k, k), k, k, s, oh, ow)
        if self.pad:
            dx = dx[:, :, self.pad : -self.pad, self.pad : -self.pad]
        return dx


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
        if self.pad:
            dx = dx[:, :, self.pad : -self.pad, self.pad : -self.pad]
        return dx


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
        flat = x.transpose(0, 2, 3, 1).reshape(-1, c)
        return super().forward(flat).reshape(n, h, w, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, c, h, w = self._shape
        flat = dout.transpose(0, 2, 3, 1).reshape(-1, c)
        return super().backward(flat).reshape(n, h, w, c).transpose(0, 3, 1, 2)
