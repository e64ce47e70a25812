"""Convolution and pooling: gradients by central differences, values by direct loops."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from dlzero_cli.engine.layers import BatchNorm


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def direct_conv(x, W, b, stride, pad):
    """The definition, with loops: the reference the fast layer must match."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


@pytest.mark.parametrize(("stride", "pad", "kernel"), [(1, 0, 3), (2, 1, 3), (1, 2, 2), (2, 0, 1)])
def test_conv_matches_the_definition_and_its_gradients(rng, stride, pad, kernel, check_layer):
    W = rng.standard_normal((4, 3, kernel, kernel))
    b = rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 7, 6))
    layer = Conv2D(W, b, stride, pad)
    out = layer.forward(x)
    np.testing.assert_allclose(out, direct_conv(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    assert layer.output_shape((3, 7, 6)) == out.shape[1:]
    check_layer(layer, x, rng)


def test_first_conv_layer_can_skip_its_input_gradient(rng):
    layer = Conv2D(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    layer.needs_input_grad = False
    layer.forward(rng.standard_normal((2, 1, 5, 5)))
    assert layer.backward(np.ones((2, 2, 3, 3))).size == 0
    assert np.abs(layer.grads["W"]).sum() > 0


@pytest.mark.parametrize(
    ("layer_class", "size", "stride", "pad", "shape"),
    [
        (MaxPool2D, 2, 2, 0, (2, 3, 6, 4)),  # tiles: the reshape path
        (MaxPool2D, 3, 2, 1, (2, 3, 7, 6)),  # overlapping windows with padding
        (MaxPool2D, 2, 2, 0, (2, 3, 5, 5)),  # does not tile: a leftover row and column
        (AvgPool2D, 2, 2, 0, (2, 3, 6, 4)),
        (AvgPool2D, 3, 2, 1, (2, 3, 7, 6)),
    ],
)
def test_pooling_gradients(rng, layer_class, size, stride, pad, shape, check_layer):
    layer = layer_class(size, stride, pad)
    layer.training = True
    # Distinct values: max pooling's derivative is undefined where two inputs tie.
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 10
    check_layer(layer, x, rng)


def test_max_pool_values_and_inference_path(rng):
    x = rng.standard_normal((2, 3, 6, 4))
    layer = MaxPool2D(2)
    expected = x.reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(layer.forward(x), expected)  # inference
    layer.training = True
    np.testing.assert_array_equal(layer.forward(x), expected)


def test_max_pool_sends_the_gradient_to_the_first_maximum_only():
    layer = MaxPool2D(2)
    layer.training = True
    layer.forward(np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))), [[[[1, 0], [0, 0]]]])


def test_flatten_and_spatial_batchnorm(rng, check_layer):
    check_layer(Flatten(), rng.standard_normal((2, 3, 2, 2)), rng)
    layer = BatchNorm(3, np.float64, spatial=True)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 3)
    layer.training = True
    x = rng.standard_normal((4, 3, 3, 2)) * 2 + 1
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), layer.params["beta"], atol=1e-12)
    check_layer(layer, x, rng)


def test_conv_keeps_float32(rng):
    layer = Conv2D(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), np.zeros(2, np.float32))
    out = layer.forward(rng.standard_normal((2, 1, 5, 5)).astype(np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


@pytest.mark.parametrize(
    ("channels", "stride", "pad", "size", "first"),
    [(1, 1, 0, 8, True), (3, 1, 1, 8, False), (2, 1, 2, 6, False), (2, 2, 1, 9, False)],
)
def test_fused_conv_relu_pool_matches_the_layers_one_by_one(
    rng, channels, stride, pad, size, first
):
    from dlzero_cli.engine.activations import ReLU
    from dlzero_cli.engine.fused import ConvReluPool

    W = rng.standard_normal((4, channels, 3, 3))
    b = rng.standard_normal(4)
    x = rng.standard_normal((3, channels, size, size))
    x[0, :, :2, :2] = 0  # ties inside pooling windows
    plain = [Conv2D(W.copy(), b.copy(), stride, pad), ReLU(), MaxPool2D(2)]
    fused_layers = [Conv2D(W.copy(), b.copy(), stride, pad), ReLU(), MaxPool2D(2)]
    for layer in plain + fused_layers:
        layer.training = True
    plain[0].needs_input_grad = fused_layers[0].needs_input_grad = not first
    fused = ConvReluPool(*fused_layers)
    out = plain[2].forward(plain[1].forward(plain[0].forward(x)))
    np.testing.assert_allclose(fused.forward(x), out, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = plain[0].backward(plain[1].backward(plain[2].backward(dout)))
    np.testing.assert_allclose(fused.backward(dout), dx, rtol=1e-12, atol=1e-12)
    for name in ("W", "b"):
        np.testing.assert_allclose(fused_layers[0].grads[name], plain[0].grads[name], rtol=1e-10)


def test_a_network_with_the_fused_step_passes_the_gradient_check(rng):
    from dlzero_cli.engine.activations import ReLU
    from dlzero_cli.engine.gradcheck import numerical_gradient, relative_error
    from dlzero_cli.engine.layers import Affine
    from dlzero_cli.engine.losses import SoftmaxCrossEntropy
    from dlzero_cli.engine.network import Sequential

    network = Sequential(
        [
            Conv2D(rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3), 1, 1),
            ReLU(),
            MaxPool2D(2),
            Affine(rng.standard_normal((48, 4)), rng.standard_normal(4)),
        ]
    )
    network.train()
    x = rng.standard_normal((2, 1, 8, 8))
    labels = np.array([1, 3])
    criterion = SoftmaxCrossEntropy()

    def loss():
        return criterion.forward(network.forward(x), labels)

    loss()
    network.backward(criterion.backward())
    analytic = {k: g.copy() for k, g in network.named_grads().items()}
    for name, param in network.named_params().items():
        assert relative_error(analytic[name], numerical_gradient(loss, param)) < 1e-7, name
