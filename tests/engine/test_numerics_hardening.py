"""Issue 12, section 7: what a layer-by-layer cross-check against PyTorch found, each
held by a test: the fused sigmoid cross-entropy, max-pool padding, backward after an
eval-mode forward, batch norm and batches of one, Nesterov's first step."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.conv import MaxPool2D
from dlzero_cli.engine.losses import make_criterion

# --------------------------------------------------------------------------- sigmoid + CE


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_cross_entropy_learns_from_a_confident_mistake(dtype):
    criterion = make_criterion("cross_entropy", "sigmoid")
    logits = np.array([[40.0], [18.0], [-40.0]], dtype=dtype)
    labels = np.array([0, 0, 1])
    loss = criterion.forward(logits, labels)
    # softplus(40) + softplus(18) + softplus(40): no 1e-7 cap at 16.118 per sample.
    expected = (40 + np.log1p(np.exp(-40.0)) + 18 + np.log1p(np.exp(-18.0)) + 40) / 3
    assert loss == pytest.approx(expected, rel=1e-6)
    grad = criterion.backward()
    assert grad.dtype == dtype
    # (sigmoid(z) - t) / N: the confident mistakes still pull with (almost) full force.
    np.testing.assert_allclose(grad[:, 0], [1 / 3, 1 / 3, -1 / 3], rtol=1e-6)
    np.testing.assert_array_equal(criterion.y[:, 0] > 0.5, [True, True, False])


def test_sigmoid_cross_entropy_is_finite_for_huge_logits():
    criterion = make_criterion("cross_entropy", "sigmoid")
    logits = np.array([[1e30, -1e30, 0.0]], dtype=np.float32)
    loss = criterion.forward(logits, np.array([2]))  # three units: one-hot target [0, 0, 1]
    assert np.isfinite(loss) and loss == pytest.approx(1e30 + np.log(2), rel=1e-6)
    np.testing.assert_allclose(criterion.backward(), [[1.0, 0.0, -0.5]])


# --------------------------------------------------------------------------- max pooling


MAXPOOL_NAN = """name: pool-padding
data:
  dataset: digits
model:
  layers: [{conv: {filters: 2, kernel: 3}}, tanh, {maxpool: {size: 2, padding: PAD}}, {dense: 10}]
loss: cross_entropy
train:
  epochs: 1
"""


def test_max_pooling_padding_over_half_the_window_is_a_config_error(write_config, cli):
    path = write_config(MAXPOOL_NAN.replace("PAD", "2"))
    result = cli("train", str(path))
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}:5: model.layers.2.maxpool.padding: got 2; ")
    assert "at most half the 2x2 window (1)" in line


def test_max_pooling_padding_of_half_the_window_trains(write_config, cli):
    path = write_config(MAXPOOL_NAN.replace("PAD", "1"))
    result = cli("check", str(path))
    assert result.exit_code == 0, result.output


def _loop_max_pool(x: np.ndarray, size: int, stride: int, pad: int):
    """Max pooling and its gradient (for dout of ones times `dout`) by direct loops:
    a window's maximum over the real pixels it covers; padding is never a candidate."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - size) // stride + 1
    ow = (w + 2 * pad - size) // stride + 1
    out = np.empty((n, c, oh, ow))
    winner = {}
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    best, where = -np.inf, None
                    for di in range(size):
                        for dj in range(size):
                            y, xx = i * stride - pad + di, j * stride - pad + dj
                            if 0 <= y < h and 0 <= xx < w and x[a, b, y, xx] > best:
                                best, where = x[a, b, y, xx], (a, b, y, xx)
                    out[a, b, i, j], winner[a, b, i, j] = best, where
    return out, winner


@pytest.mark.parametrize(("size", "stride", "pad"), [(2, 2, 1), (3, 2, 1), (3, 1, 1), (2, 1, 1)])
def test_padded_max_pooling_on_negative_inputs_matches_a_direct_loop(size, stride, pad):
    rng = np.random.default_rng(size * 10 + stride + pad)
    x = -rng.uniform(1, 2, (2, 2, 5, 6))  # every value negative: a 0 fill would win
    layer = MaxPool2D(size, stride, pad)
    layer.training = True
    out = layer.forward(x)
    expected, winner = _loop_max_pool(x, size, stride, pad)
    np.testing.assert_array_equal(out, expected)
    assert np.all(out < 0)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    expected_dx = np.zeros_like(x)
    for index, where in winner.items():
        expected_dx[where] += dout[index]
    np.testing.assert_allclose(dx, expected_dx, rtol=0, atol=1e-15)
