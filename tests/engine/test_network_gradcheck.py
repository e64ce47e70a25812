"""The network-level gradient check: it passes on every kind of layer (the fused conv
step included), holds dropout's masks, skips kinks, and fails on a wrong backward."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.activations import ReLU, Sigmoid
from dlzero_cli.engine.conv import Conv2D, MaxPool2D
from dlzero_cli.engine.gradcheck import float64_copy, network_gradient_check
from dlzero_cli.engine.layers import Affine, BatchNorm, Dropout
from dlzero_cli.engine.losses import make_criterion
from dlzero_cli.engine.network import Sequential


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def convnet(rng) -> Sequential:
    """conv -> ReLU -> max-pool (run as the fused step), batch norm, dropout, dense."""
    conv = Conv2D(rng.standard_normal((3, 1, 3, 3)) * 0.5, rng.standard_normal(3) * 0.1)
    return Sequential(
        [
            conv, ReLU(), MaxPool2D(2), BatchNorm(3, np.float64, spatial=True),
            Affine(rng.standard_normal((27, 8)) * 0.3, np.zeros(8)), Sigmoid(),
            Dropout(0.5, np.random.default_rng(1)),
            Affine(rng.standard_normal((8, 4)) * 0.3, np.zeros(4)),
        ]
    )  # fmt: skip


def test_every_layer_kind_passes(rng):
    network = convnet(rng)
    assert type(network._plan[0]).__name__ == "ConvReluPool"  # backprop's fused step
    x = rng.standard_normal((4, 1, 8, 8))
    checks = network_gradient_check(
        network, make_criterion("cross_entropy", "softmax"), x, rng.integers(0, 4, 4), rng
    )
    assert [c.name for c in checks] == [
        "0.W", "0.b", "3.gamma", "3.beta", "4.W", "4.b", "7.W", "7.b",
    ]  # fmt: skip
    assert all(c.passed for c in checks), checks
    assert all(c.relative_error < 1e-6 for c in checks if c.max_abs_diff > 1e-8)


def test_large_parameters_are_sampled_and_all_checks_every_entry(rng):
    network = convnet(rng)
    x, labels = rng.standard_normal((2, 1, 8, 8)), np.array([0, 3])
    criterion = make_criterion("cross_entropy", "softmax")
    sampled = network_gradient_check(network, criterion, x, labels, rng, entries=5)
    assert {c.name: c.checked + c.kinks for c in sampled}["4.W"] == 5
    every = network_gradient_check(network, criterion, x, labels, rng, entries=None)
    assert {c.name: c.checked + c.kinks for c in every}["4.W"] == 27 * 8


def test_dropout_masks_are_held_only_while_asked():
    dropout = Dropout(0.5, np.random.default_rng(0))
    dropout.training = True
    x = np.ones((3, 10))
    dropout.hold_randomness(True)
    first = dropout.forward(x)
    np.testing.assert_array_equal(dropout.forward(x), first)
    dropout.hold_randomness(False)
    draws = [dropout.forward(x) for _ in range(3)]
    assert not all(np.array_equal(d, first) for d in draws)


def test_without_held_masks_dropout_would_fail_the_check(rng, monkeypatch):
    """The check is only meaningful because the mask is held: a fresh mask per loss
    evaluation makes central differences noise."""
    monkeypatch.setattr(Dropout, "hold_randomness", lambda self, hold: None)
    network = Sequential(
        [Affine(rng.standard_normal((6, 8)), np.zeros(8)), Dropout(0.5), Affine(
            rng.standard_normal((8, 3)), np.zeros(3))]
    )  # fmt: skip
    checks = network_gradient_check(
        network, make_criterion("cross_entropy", "softmax"), rng.standard_normal((4, 6)),
        np.array([0, 1, 2, 0]), rng,
    )  # fmt: skip
    assert not all(c.passed for c in checks)


def test_a_wrong_backward_fails(rng, monkeypatch):
    """Sigmoid's derivative y(1 - y) replaced by y: the parameters behind it fail."""

    def wrong(self, dout):
        return dout * self._out

    monkeypatch.setattr(Sigmoid, "backward", wrong)
    network = Sequential(
        [Affine(rng.standard_normal((5, 6)), np.zeros(6)), Sigmoid(),
         Affine(rng.standard_normal((6, 3)), np.zeros(3))]
    )  # fmt: skip
    checks = network_gradient_check(
        network, make_criterion("cross_entropy", "softmax"), rng.standard_normal((4, 5)),
        np.array([0, 1, 2, 0]), rng,
    )  # fmt: skip
    passed = {c.name: c.passed for c in checks}
    assert passed == {"0.W": False, "0.b": False, "2.W": True, "2.b": True}


def test_relu_kinks_are_skipped_not_failed(rng):
    """Pre-activations within eps of 0 (a kink inside the central difference) are
    skipped and counted; the remaining entries pass."""
    first = Affine(rng.standard_normal((4, 6)) * 1e-7, np.zeros(6))  # ReLU inputs ~1e-7
    network = Sequential([first, ReLU(), Affine(rng.standard_normal((6, 3)), np.zeros(3))])
    checks = network_gradient_check(
        network, make_criterion("cross_entropy", "softmax"), rng.standard_normal((5, 4)),
        np.array([0, 1, 2, 0, 1]), rng,
    )  # fmt: skip
    assert all(c.passed for c in checks)
    assert sum(c.kinks for c in checks) > 0


def test_float64_copy_keeps_values_and_leaves_the_original_alone(rng):
    network = Sequential([Affine(rng.standard_normal((3, 2)).astype(np.float32), np.ones(2,
        np.float32)), BatchNorm(2, np.float32)])  # fmt: skip
    copy = float64_copy(network)
    for name, array in copy.named_params().items():
        assert array.dtype == np.float64
        np.testing.assert_array_equal(array, network.named_params()[name])
    copy.named_params()["0.W"][...] = 0
    assert network.named_params()["0.W"].any()
