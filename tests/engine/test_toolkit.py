"""Batch norm, dropout, optimizers, schedules and clipping, checked by hand and numerically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlzero_cli.engine.gradcheck import TOLERANCE, numerical_gradient, relative_error
from dlzero_cli.engine.layers import BatchNorm, Dropout
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.engine.schedules import lr_for_epoch
from dlzero_cli.training import clip_gradients


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_batchnorm_gradients_in_training_mode(rng, check_layer):
    layer = BatchNorm(5, np.float64)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 5)
    layer.params["beta"][:] = rng.standard_normal(5)
    layer.training = True
    check_layer(layer, rng.standard_normal((6, 5)) * 3 + 1, rng)


def test_batchnorm_normalises_in_training_and_uses_running_moments_in_inference(rng):
    layer = BatchNorm(3, np.float64, momentum=0.9)
    layer.training = True
    x = rng.standard_normal((200, 3)) * [1.0, 2.0, 5.0] + [0.0, -3.0, 10.0]
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-3)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 + 0.1 * x.var(axis=0))
    layer.training = False
    one = layer.forward(x[:1])
    expected = (x[:1] - layer.buffers["running_mean"]) / np.sqrt(
        layer.buffers["running_var"] + layer.eps
    )
    np.testing.assert_allclose(one, expected)


def test_dropout_gradient_with_its_mask_held_fixed(rng):
    layer = Dropout(0.4, rng=np.random.default_rng(3))
    layer.training = True
    x = rng.standard_normal((4, 6))
    seed_state = layer.rng.bit_generator.state

    def forward_with_same_mask():
        layer.rng.bit_generator.state = seed_state
        return layer.forward(x)

    weights = rng.standard_normal((4, 6))
    loss = lambda: float(np.sum(forward_with_same_mask() * weights))  # noqa: E731
    loss()
    dx = layer.backward(weights)
    assert relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE


def test_dropout_is_inverted_and_off_in_inference():
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    x = np.ones((2000, 50), dtype=np.float32)
    layer.training = True
    out = layer.forward(x)
    kept = out > 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert out.dtype == np.float32
    layer.training = False
    assert layer.forward(x) is x


def two_steps(name, grads, **options):
    """W after two steps from W = 1.0 with the given gradients; a one-element problem."""
    W = np.array([1.0])
    optimizer = OPTIMIZERS.get(name)({"0.W": W}, **options)
    for g in grads:
        optimizer.step({"0.W": np.array([g])})
    return float(W[0])


# Hand computations for W0 = 1, gradients 0.5 then -0.2.
@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("sgd", {"lr": 0.1}, 1 - 0.1 * 0.5 + 0.1 * 0.2),
        # v1 = -0.05, W1 = 0.95; v2 = 0.9 * -0.05 + 0.02 = -0.025, W2 = 0.925
        ("momentum", {"lr": 0.1, "momentum": 0.9}, 0.925),
        # v1 = -0.05, W1 = 1 + 0.9*-0.05 - 0.05 = 0.905 (a first step of 1.9 lr g)
        # v2 = -0.025, W2 = 0.905 + 0.9*-0.025 + 0.02 = 0.9025
        ("nesterov", {"lr": 0.1, "momentum": 0.9}, 0.9025),
        # the book's: v1 = -0.05, W1 = 1 + 0.81*-0.05 - 1.9*0.05 = 0.8645 (2.71 lr g)
        # v2 = -0.025, W2 = 0.8645 + 0.81*-0.025 + 1.9*0.02 = 0.88225
        ("nesterov_book", {"lr": 0.1, "momentum": 0.9}, 0.88225),
        # h1 = 0.25, W1 = 1 - 0.1*0.5/(0.5+1e-7); h2 = 0.29, W2 = W1 + 0.1*0.2/(sqrt(0.29)+1e-7)
        ("adagrad", {"lr": 0.1}, 1 - 0.05 / (0.5 + 1e-7) + 0.02 / (math.sqrt(0.29) + 1e-7)),
        # h1 = 0.0025, W1 = 1 - 0.05/(0.05+1e-7); h2 = 0.99*0.0025 + 0.01*0.04 = 0.002875
        (
            "rmsprop",
            {"lr": 0.1},
            1 - 0.05 / (0.05 + 1e-7) + 0.02 / (math.sqrt(0.002875) + 1e-7),
        ),
    ],
)
def test_first_steps_match_hand_computation(name, options, expected):
    assert two_steps(name, [0.5, -0.2], **options) == pytest.approx(expected, rel=1e-12)


def test_adam_first_steps_by_hand():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    # t=1: m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25 -> step 0.1 * 0.5 / 0.5 = 0.1
    w1 = 1 - lr * 0.5 / (0.5 + eps)
    m2 = 0.9 * 0.05 + 0.1 * -0.2
    v2 = 0.999 * 0.00025 + 0.001 * 0.04
    w2 = w1 - lr * (m2 / (1 - b1**2)) / (math.sqrt(v2 / (1 - b2**2)) + eps)
    assert two_steps("adam", [0.5, -0.2], lr=lr) == pytest.approx(w2, rel=1e-12)


def test_weight_decay_is_l2_on_weights_only_and_decoupled_for_adamw():
    W, b = np.array([2.0]), np.array([2.0])
    sgd = OPTIMIZERS.get("sgd")({"0.W": W, "0.b": b}, lr=0.1, weight_decay=0.5)
    sgd.step({"0.W": np.array([1.0]), "0.b": np.array([1.0])})
    assert W[0] == pytest.approx(2 - 0.1 * (1 + 0.5 * 2))
    assert b[0] == pytest.approx(2 - 0.1 * 1)
    # AdamW shrinks W by lr * wd * W, outside the adaptive step.
    W = np.array([2.0])
    adamw = OPTIMIZERS.get("adamw")({"0.W": W}, lr=0.1, weight_decay=0.5)
    adamw.step({"0.W": np.array([1.0])})
    assert W[0] == pytest.approx(2 * (1 - 0.05) - 0.1 * 1 / (1 + 1e-8))


def test_optimizer_state_round_trips_through_its_dict():
    W1, W2 = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    first = OPTIMIZERS.get("adam")({"0.W": W1}, lr=0.01)
    first.step({"0.W": np.array([0.3, -0.1])})
    second = OPTIMIZERS.get("adam")({"0.W": W2}, lr=0.01)
    W2[:] = W1
    second.load_state_dict(first.state_dict())
    for optimizer in (first, second):
        optimizer.step({"0.W": np.array([0.2, 0.4])})
    np.testing.assert_array_equal(W1, W2)
    assert sorted(first.state_dict()) == ["m.0.W", "t", "v.0.W"]


@pytest.mark.parametrize(
    ("name", "settings", "epochs", "expected"),
    [
        ("constant", {}, [1, 5], [0.1, 0.1]),
        ("step", {"step_size": 2, "gamma": 0.5}, [1, 2, 3, 5], [0.1, 0.1, 0.05, 0.025]),
        ("exponential", {"gamma": 0.9}, [1, 3], [0.1, 0.1 * 0.81]),
        ("cosine", {"min_lr": 0.0}, [1, 6], [0.1, 0.05]),
        ("cosine", {"min_lr": 0.0, "warmup_epochs": 2}, [1, 2, 3], [0.05, 0.1, 0.1]),
    ],
)
def test_schedules(name, settings, epochs, expected):
    got = [lr_for_epoch(name, 0.1, e, 10, **settings) for e in epochs]
    assert got == pytest.approx(expected)


def test_clip_gradients_scales_the_global_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_gradients(grads, 1.0) == pytest.approx(5.0)
    total = math.sqrt(grads["a"][0] ** 2 + grads["b"][0] ** 2)
    assert total == pytest.approx(1.0, rel=1e-5)
    untouched = {"a": np.array([0.3])}
    clip_gradients(untouched, 1.0)
    assert untouched["a"][0] == 0.3
