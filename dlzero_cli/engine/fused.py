"""Speed kept inside the engine: the steps a network's layers actually run as.

`execution_plan` looks at the layers in the user's order and returns the steps to run;
the layers, their names, parameters and specs keep the user's order. Nothing outside
the engine knows that some layers run together.

- conv -> ReLU -> max-pool runs as one `ConvReluPool` step;
- otherwise ReLU then max-pool runs as max-pool then ReLU: max(relu(a), relu(b)) =
  relu(max(a, b)) because ReLU never decreases, and the gradient takes the same path
  too (the window's first maximum, then ReLU's mask), so the result is identical while
  ReLU touches a quarter of the values of a 2x2 pooling.
"""

from __future__ import annotations

import numpy as np

from dlzero_cli.engine.activations import ReLU
from dlzero_cli.engine.conv import (
    Conv2D,
    MaxPool2D,
    col2im,
    conv_output_size,
    first_max_masks,
    im2col,
    running_max,
    store_weight_grads,
    weights_with_bias,
)
from dlzero_cli.engine.layers import Layer, backward_needs_training
from dlzero_cli.engine.scratch import Scratch


class ConvReluPool:
    """Conv2D -> ReLU -> MaxPool2D run as one step when the pooling tiles the conv output.

    `im2col` with the pooling size as its block orders the columns by position in the
    pooling window, so the matrix product lays the k*k values of every pooling window
    in k*k contiguous blocks: max pooling is a running maximum over whole blocks, ReLU
    runs on the pooled quarter, and on the way back the weight gradient is one product
    per block with the pooled gradient: the full-size gradient map is never built.
    Values are those of the three layers run one by one (floating-point sums may be
    grouped differently); the parameters and gradients are the Conv2D layer's.
    """

    def __init__(self, conv: Conv2D, relu: Layer, pool: MaxPool2D) -> None:
        self.conv, self.relu, self.pool = conv, relu, pool
        self._scratch = Scratch()
        self._fused = False
        self._trained_forward = False

    def _fits(self, x: np.ndarray) -> bool:
        _, _, kh, kw = self.conv.params["W"].shape
        oh = conv_output_size(x.shape[2], kh, self.conv.stride, self.conv.pad)
        ow = conv_output_size(x.shape[3], kw, self.conv.stride, self.conv.pad)
        return self.pool.tiles(oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._fused = self._fits(x)
        if not self._fused:  # the layers one by one (pooling first: see the module)
            return self.relu.forward(self.pool.forward(self.conv.forward(x)))
        conv, k = self.conv, self.pool.size
        filters, _, kh, kw = conv.params["W"].shape
        n, _, h, w = x.shape
        ph = conv_output_size(h, kh, conv.stride, conv.pad) // k
        pw = conv_output_size(w, kw, conv.stride, conv.pad) // k
        q = n * ph * pw  # one block: one position of every pooling window
        self._x_shape, self._dims = x.shape, (n, ph, pw, q)
        scratch = self._scratch
        self._col_ones = im2col(scratch, x, kh, kw, conv.stride, conv.pad, block=k)
        out = scratch.get("out", (filters, k * k * q), x.dtype)
        np.matmul(weights_with_bias(scratch, conv, x.dtype), self._col_ones, out=out)
        parts = [out[:, m * q : (m + 1) * q] for m in range(k * k)]
        pooled = running_max(parts, scratch.get("pooled", (filters, q), x.dtype))
        self._trained_forward = conv.training
        if conv.training:
            self._winners = first_max_masks(scratch, parts, pooled)
            self._positive = np.greater(pooled, 0, out=scratch.get("mask", pooled.shape, np.bool_))
        result = np.maximum(pooled, 0, out=scratch.get("result", pooled.shape, x.dtype))
        return result.reshape(filters, n, ph, pw).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self._fused:
            return self.conv.backward(self.pool.backward(self.relu.backward(dout)))
        if not self._trained_forward:
            raise backward_needs_training("conv -> relu -> maxpool")
        conv, k = self.conv, self.pool.size
        W = conv.params["W"]
        filters, _, kh, kw = W.shape
        n, ph, pw, q = self._dims
        scratch = self._scratch
        grad = scratch.get("grad", (filters, q), dout.dtype)
        # Read dout through its (C, N, H, W) view: no copy of it first.
        np.multiply(
            dout.transpose(1, 0, 2, 3),
            self._positive.reshape(filters, n, ph, pw),
            out=grad.reshape(filters, n, ph, pw),
        )
        both = scratch.get("dW_db", (filters, W[0].size + 1), dout.dtype)
        part = scratch.get("part", both.shape, dout.dtype)
        block = scratch.get("block", (filters, q), dout.dtype)
        both[...] = 0
        blocks = []
        for m, winner in enumerate(self._winners):
            np.multiply(grad, winner, out=block)
            np.matmul(block, self._col_ones[:, m * q : (m + 1) * q].T, out=part)
            both += part
            if conv.needs_input_grad:
                blocks.append(block.copy())
        store_weight_grads(conv, both)
        if not conv.needs_input_grad:
            return np.empty(0, dtype=dout.dtype)
        full = np.concatenate(blocks, axis=1)  # (F, k*k*Q): the conv output's gradient
        grad_col = W.reshape(filters, -1).T @ full
        return col2im(grad_col, self._x_shape, kh, kw, conv.stride, conv.pad, block=k)


Step = Layer | ConvReluPool


def execution_plan(layers: list[Layer]) -> list[Step]:
    """The steps `layers` run as (see the module docstring)."""
    plan: list[Step] = []
    i = 0
    while i < len(layers):
        trio = layers[i : i + 3]
        if (
            len(trio) == 3
            and isinstance(trio[0], Conv2D)
            and isinstance(trio[1], ReLU)
            and isinstance(trio[2], MaxPool2D)
        ):
            plan.append(ConvReluPool(*trio))
            i += 3
        elif len(trio) >= 2 and isinstance(trio[0], ReLU) and isinstance(trio[1], MaxPool2D):
            plan += [trio[1], trio[0]]
            i += 2
        else:
            plan.append(layers[i])
            i += 1
    return plan
