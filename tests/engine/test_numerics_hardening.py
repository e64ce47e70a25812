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


def test_sigmoid_cross_entropy_of_infinite_logits_warns_nothing():
    criterion = make_criterion("cross_entropy", "sigmoid")
    logits = np.array([[np.inf], [-np.inf], [np.inf]])
    assert criterion.forward(logits, np.array([1, 0, 0])) == np.inf  # the wrong one: inf
    assert criterion.forward(logits[:2], np.array([1, 0])) == 0.0  # both right: 0
    np.testing.assert_array_equal(criterion.backward(), [[0.0], [0.0]])


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


# --------------------------------------------------------------------------- Nesterov


def _first_step(name: str) -> float:
    from dlzero_cli.engine.optim import OPTIMIZERS

    W = np.zeros(1)
    optimizer = OPTIMIZERS.get(name)({"0.W": W}, lr=0.1, momentum=0.9)
    optimizer.step({"0.W": np.ones(1)})
    return float(-W[0] / 0.1)  # in units of lr g


def test_nesterov_first_step_is_one_point_nine_lr_g_and_the_book_keeps_its_own_name():
    assert _first_step("nesterov") == pytest.approx(1.9, rel=1e-14)
    assert _first_step("nesterov_book") == pytest.approx(2.71, rel=1e-14)
    assert _first_step("momentum") == pytest.approx(1.0, rel=1e-14)


def test_both_nesterovs_keep_momentums_state_so_checkpoints_load_either_way():
    from dlzero_cli.engine.optim import OPTIMIZERS

    rng = np.random.default_rng(0)
    states = {}
    for name in ("momentum", "nesterov", "nesterov_book"):
        params = {"0.W": rng.standard_normal((2, 3)), "0.b": np.zeros(3)}
        optimizer = OPTIMIZERS.get(name)(params, lr=0.1)
        optimizer.step({k: np.ones_like(v) for k, v in params.items()})
        states[name] = optimizer.state_dict()
    assert {tuple(sorted(s)) for s in states.values()} == {("v.0.W", "v.0.b")}
    # The velocity after one step is -lr g for all three: the same quantity.
    for state in states.values():
        np.testing.assert_allclose(state["v.0.W"], -0.1 * np.ones((2, 3)))


# --------------------------------------------------------------------------- backward after eval


def _image_layers(rng):
    from dlzero_cli.engine.conv import AvgPool2D, Conv2D, Flatten
    from dlzero_cli.engine.layers import BatchNorm

    conv = Conv2D(rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2), 1, 1)
    return {
        "conv": conv,
        "maxpool": MaxPool2D(2),  # tiles a 4x4 input: the fast path
        "maxpool padded": MaxPool2D(3, 2, 1),
        "avgpool": AvgPool2D(2),
        "flatten": Flatten(),
        "batchnorm2d": BatchNorm(2, np.float64, spatial=True),
    }


def _flat_layers(rng):
    from dlzero_cli.engine.activations import Identity, ReLU, Sigmoid, Tanh
    from dlzero_cli.engine.layers import Affine, BatchNorm, Dropout

    return {
        "dense": Affine(rng.standard_normal((6, 3)), rng.standard_normal(3)),
        "batchnorm": BatchNorm(6, np.float64),
        "dropout": Dropout(0.5, np.random.default_rng(1)),
        "dropout book": Dropout(0.5, np.random.default_rng(1), scale="inference"),
        "relu": ReLU(),
        "sigmoid": Sigmoid(),
        "tanh": Tanh(),
        "identity": Identity(),
    }


def _every_kind(rng):
    cases = [(name, layer, (4, 2, 4, 4)) for name, layer in _image_layers(rng).items()]
    cases += [(name, layer, (4, 6)) for name, layer in _flat_layers(rng).items()]
    return cases


def test_the_cases_cover_every_trainable_layer_kind():
    from dlzero_cli.engine.layers import LAYERS

    kinds = {layer.kind for _, layer, _ in _every_kind(np.random.default_rng(0))}
    assert kinds == set(LAYERS.names()) - {"step"}  # step has no backward at all


@pytest.mark.parametrize("index", range(14))
def test_backward_after_an_eval_forward_is_right_or_a_clear_error(index):
    """Train on batch A, then an eval-mode forward on batch B: backward must be the
    gradient of that eval-mode forward at B, or an EngineError; never A's state."""
    from dlzero_cli.engine.gradcheck import numerical_gradient, relative_error
    from dlzero_cli.errors import EngineError

    rng = np.random.default_rng(index)
    name, layer, shape = _every_kind(rng)[index]
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    layer.training = True
    out_a = layer.forward(a)
    layer.training = False
    out_b = layer.forward(b).copy()
    dout = rng.standard_normal(out_b.shape)
    assert out_a.shape == out_b.shape
    try:
        dx = layer.backward(dout).copy()
    except EngineError as error:
        assert "backward needs a training-mode forward first" in str(error), name
        return

    def loss() -> float:
        return float(np.sum(layer.forward(b) * dout))

    assert relative_error(dx, numerical_gradient(loss, b)) < 1e-7, name


def test_layers_that_keep_less_at_inference_refuse_backward_after_eval():
    from dlzero_cli.engine.activations import ReLU
    from dlzero_cli.engine.layers import BatchNorm
    from dlzero_cli.errors import EngineError

    for layer, x in [
        (ReLU(), np.ones((2, 3))),
        (BatchNorm(3, np.float64), np.ones((2, 3))),
        (MaxPool2D(2), np.ones((1, 1, 4, 4))),
    ]:
        layer.training = False
        layer.forward(x)
        with pytest.raises(EngineError, match=f"^{layer.kind}: backward needs a training-mode"):
            layer.backward(np.ones_like(layer.forward(x)))


def test_a_network_refuses_backward_after_eval_including_the_fused_step():
    from dlzero_cli.engine.activations import ReLU
    from dlzero_cli.engine.conv import Conv2D, Flatten
    from dlzero_cli.engine.fused import ConvReluPool
    from dlzero_cli.engine.layers import Affine
    from dlzero_cli.engine.network import Sequential
    from dlzero_cli.errors import EngineError

    rng = np.random.default_rng(0)
    conv = Conv2D(rng.standard_normal((2, 1, 3, 3)), np.zeros(2), 1, 1)
    network = Sequential(
        [Affine(rng.standard_normal((4, 4)), np.zeros(4)), ReLU(), Affine(np.eye(4), np.zeros(4))]
    )
    images = Sequential([conv, ReLU(), MaxPool2D(2), Flatten()])
    assert isinstance(images._plan[0], ConvReluPool)
    cases = [(network, rng.standard_normal((3, 4))), (images, rng.standard_normal((3, 1, 4, 4)))]
    for net, x in cases:
        net.train()
        first = net.forward(x).copy()
        dx_train = net.backward(np.ones_like(first))
        assert np.all(np.isfinite(dx_train))
        net.eval()
        out = net.forward(x + 1)
        with pytest.raises(EngineError, match="backward needs a training-mode forward first"):
            net.backward(np.ones_like(out))
        net.train()  # and a training forward makes it work again
        net.backward(np.ones_like(net.forward(x)))


# --------------------------------------------------------------------------- batch of one


def _old_shuffled_batches(n, batch_size, rng):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


@pytest.mark.parametrize(
    ("n", "batch_size"), [(65, 32), (64, 32), (1, 5), (7, 3), (100, 1), (3, 2)]
)
def test_shuffled_batches_without_batch_norm_are_as_before(n, batch_size):
    from dlzero_cli.data.batching import SAMPLERS

    old = list(_old_shuffled_batches(n, batch_size, np.random.default_rng(4)))
    rng = np.random.default_rng(4)
    new = list(SAMPLERS.get("shuffle")(n, batch_size, rng))
    assert len(old) == len(new)
    assert all(np.array_equal(a, b) for a, b in zip(old, new, strict=True))


@pytest.mark.parametrize(("n", "batch_size"), [(65, 32), (64, 32), (7, 3), (3, 2), (2, 1)])
def test_with_batch_norm_a_last_batch_of_one_joins_the_one_before(n, batch_size):
    from dlzero_cli.data.batching import SAMPLERS, merged_leftover

    plain_rng, merged_rng = np.random.default_rng(4), np.random.default_rng(4)
    plain = list(SAMPLERS.get("shuffle")(n, batch_size, plain_rng))
    merged = list(SAMPLERS.get("shuffle")(n, batch_size, merged_rng, 2))
    assert min(len(b) for b in merged) >= 2 or batch_size == 1
    np.testing.assert_array_equal(np.concatenate(plain), np.concatenate(merged))  # each once
    assert plain_rng.random() == merged_rng.random()  # the same draws from the generator
    leftover = merged_leftover("shuffle", n, batch_size, 2)
    if n % batch_size == 1 and batch_size > 1:
        assert leftover == 1 and len(merged) == len(plain) - 1
        assert len(merged[-1]) == batch_size + 1
    elif batch_size > 1:
        assert leftover == 0
        assert all(np.array_equal(a, b) for a, b in zip(plain, merged, strict=True))


def test_batch_norm_refuses_to_train_on_one_sample_but_infers_on_one():
    from dlzero_cli.engine.layers import BatchNorm
    from dlzero_cli.errors import EngineError

    layer = BatchNorm(3, np.float64, spatial=False)
    layer.training = True
    with pytest.raises(EngineError, match="batchnorm cannot train on a batch of 1 sample"):
        layer.forward(np.ones((1, 3)))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(3))  # untouched
    layer.training = False
    assert layer.forward(np.ones((1, 3))).shape == (1, 3)


BN_RUN = """name: bn-leftover
data:
  dataset: digits
  validation: 0
  limit: 65
model:
  layers: 64-16-10
  activation: relu
  batch_norm: BN
loss: cross_entropy
train:
  epochs: 2
  batch_size: 32
"""


def test_train_says_when_batch_norm_merges_a_single_sample(write_config, cli):
    result = cli("train", str(write_config(BN_RUN.replace("BN", "true"))))
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: batch norm: each epoch's last batch would hold 1 sample; it joins the batch "
        "before it (65 training samples, batch_size 32)"
    ]
    result = cli("train", str(write_config(BN_RUN.replace("BN", "false"), "plain.yaml")))
    assert result.exit_code == 0 and "note:" not in result.stderr


def test_a_batch_size_of_one_with_batch_norm_is_a_config_error(write_config, cli):
    path = write_config(BN_RUN.replace("BN", "true").replace("batch_size: 32", "batch_size: 1"))
    result = cli("train", str(path))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}:13: train.batch_size: got 1; batch norm needs")
