"""Every layer's and loss's backward pass against central differences, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.activations import Identity, ReLU, Sigmoid, Softmax, Step, Tanh
from dlzero_cli.engine.gradcheck import TOLERANCE, numerical_gradient, relative_error
from dlzero_cli.engine.layers import Affine
from dlzero_cli.engine.losses import (
    MeanSquaredError,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    make_criterion,
)
from dlzero_cli.engine.network import Sequential
from dlzero_cli.errors import EngineError


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_affine(rng, check_layer):
    layer = Affine(rng.standard_normal((5, 3)), rng.standard_normal(3))
    check_layer(layer, rng.standard_normal((4, 5)), rng)


def test_affine_flattens_image_inputs_and_restores_their_shape(rng, check_layer):
    layer = Affine(rng.standard_normal((12, 3)), rng.standard_normal(3))
    x = rng.standard_normal((2, 3, 2, 2))
    check_layer(layer, x, rng)
    assert layer.backward(np.ones((2, 3))).shape == x.shape


@pytest.mark.parametrize("layer_class", [Sigmoid, Tanh, Identity, Softmax])
def test_smooth_activations(layer_class, rng, check_layer):
    check_layer(layer_class(), rng.standard_normal((4, 6)) * 2, rng)


def test_relu_away_from_its_kink(rng, check_layer):
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 0.1] = 0.5  # the derivative does not exist at 0
    check_layer(ReLU(), x, rng)


def test_step_is_forward_only():
    step = Step()
    np.testing.assert_array_equal(step.forward(np.array([[-1.0, 0.0, 2.0]])), [[0, 0, 1]])
    with pytest.raises(EngineError, match="derivative"):
        step.backward(np.ones((1, 3)))


def check_loss(loss, y: np.ndarray, labels: np.ndarray) -> None:
    loss.forward(y, labels)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(y, labels), y)
    assert relative_error(analytic, numeric) < TOLERANCE


def test_softmax_cross_entropy_fused(rng):
    check_loss(SoftmaxCrossEntropy(), rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, 5))


def test_softmax_cross_entropy_gradient_is_probabilities_minus_targets(rng):
    logits = rng.standard_normal((3, 4))
    labels = np.array([0, 3, 1])
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, labels)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), (probs - np.eye(4)[labels]) / 3)


def test_sigmoid_cross_entropy_fused(rng):
    check_loss(SigmoidCrossEntropy(), rng.standard_normal((6, 1)) * 3, rng.integers(0, 2, 6))
    check_loss(SigmoidCrossEntropy(), rng.standard_normal((6, 3)) * 3, rng.integers(0, 3, 6))


def test_mean_squared_error(rng):
    check_loss(MeanSquaredError(), rng.standard_normal((5, 3)), rng.integers(0, 3, 5))
    check_loss(MeanSquaredError(), rng.standard_normal((5, 1)), rng.integers(0, 2, 5))


def test_mean_squared_error_is_half_sum_of_squares_over_batch():
    y = np.array([[0.1, 0.9], [0.8, 0.2]])
    t = np.array([1, 0])
    expected = 0.5 * ((0.1**2 + 0.1**2) + (0.2**2 + 0.2**2)) / 2
    assert MeanSquaredError().forward(y, t) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("loss", "output"), [("cross_entropy", "sigmoid"), ("mse", "identity"), ("mse", "sigmoid")]
)
def test_output_then_loss_criteria(loss, output, rng):
    criterion = make_criterion(loss, output)
    units = 3
    check_loss(criterion, rng.standard_normal((5, units)), rng.integers(0, units, 5))


def test_whole_network_parameters(rng):
    network = Sequential(
        [
            Affine(rng.standard_normal((4, 5)), rng.standard_normal(5)),
            Sigmoid(),
            Affine(rng.standard_normal((5, 3)), rng.standard_normal(3)),
        ]
    )
    x = rng.standard_normal((6, 4))
    labels = rng.integers(0, 3, 6)
    criterion = SoftmaxCrossEntropy()

    def loss() -> float:
        return criterion.forward(network.forward(x), labels)

    loss()
    network.backward(criterion.backward())
    analytic = {k: g.copy() for k, g in network.named_grads().items()}
    for name, param in network.named_params().items():
        assert relative_error(analytic[name], numerical_gradient(loss, param)) < TOLERANCE, name


def test_gradcheck_detects_a_wrong_backward(rng, check_layer):
    """The check itself must fail on a broken layer, or it proves nothing."""

    class WrongSigmoid(Sigmoid):
        def backward(self, dout):
            return dout * self._out  # forgets the (1 - y) factor

    with pytest.raises(AssertionError):
        check_layer(WrongSigmoid(), rng.standard_normal((3, 4)), rng)
