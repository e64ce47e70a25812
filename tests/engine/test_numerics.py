"""Numerical behaviour: no overflow, no silent float64 upcasts, the SGD update."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dlzero_cli.engine import functional as F
from dlzero_cli.engine.activations import Identity, ReLU, Sigmoid, Softmax, Tanh
from dlzero_cli.engine.layers import Affine
from dlzero_cli.engine.losses import LOSSES, make_criterion
from dlzero_cli.engine.optim import SGD
from dlzero_cli.engine.registry import Registry, UnknownNameError


def test_softmax_subtracts_the_row_maximum():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    small = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(F.softmax(small + 1000), np.exp(small) / np.exp(small).sum())


def test_sigmoid_is_stable_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.sigmoid(np.array([-1000.0, 0.0, 1000.0], dtype=np.float32))
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0], atol=1e-7)
    x = np.linspace(-8, 8, 33)
    np.testing.assert_allclose(F.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)


@pytest.mark.parametrize("layer_class", [Sigmoid, ReLU, Tanh, Identity, Softmax])
def test_layers_keep_float32(layer_class):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    layer = layer_class()
    layer.training = True
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones((4, 3), dtype=np.float32)).dtype == np.float32


def test_affine_and_losses_keep_float32():
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32))
    out = layer.forward(rng.standard_normal((4, 3)).astype(np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones((4, 2), np.float32)).dtype == np.float32
    labels = np.array([0, 1, 1, 0])
    for name in LOSSES:
        for output in LOSSES.get(name).outputs():
            criterion = make_criterion(name, output)
            criterion.forward(out, labels)
            assert criterion.backward().dtype == np.float32, (name, output)


def test_sgd_step_matches_hand_computation_and_leaves_gradients_alone():
    W = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    grad = np.array([[0.5, -1.0], [0.0, 2.0]], dtype=np.float32)
    optimizer = SGD({"0.W": W}, lr=0.1)
    optimizer.step({"0.W": grad})
    np.testing.assert_allclose(W, [[0.95, 2.1], [3.0, 3.8]], rtol=1e-6)
    np.testing.assert_array_equal(grad, [[0.5, -1.0], [0.0, 2.0]])
    assert W.dtype == np.float32


def test_registry_suggests_close_names():
    registry: Registry[int] = Registry("activation")
    registry.add("sigmoid", 1)
    registry.add("relu", 2)
    with pytest.raises(UnknownNameError) as info:
        registry.get("sigmod")
    assert str(info.value) == (
        "unknown activation 'sigmod'; choose one of: relu, sigmoid; did you mean 'sigmoid'?"
    )
    with pytest.raises(ValueError, match="twice"):
        registry.add("relu", 3)


def test_single_unit_scores_become_two_classes():
    scores = np.array([[0.2], [0.7]])
    np.testing.assert_allclose(F.scores_to_class_scores(scores), [[0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(F.scores_to_labels(scores), [0, 1])
