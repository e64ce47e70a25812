"""dlzero against reference values PyTorch computed once, in float64, on the same inputs
(benchmarks/torch_reference.py -> tests/fixtures/torch-reference.npz; PyTorch is not
needed here). Every layer's output and gradients, the losses, 20-step trajectories of
every optimizer, the schedules and the initialisers' scales. Where dlzero follows the
book (batch norm's biased running variance, xavier = sqrt(1/fan_in)) the file holds
PyTorch's computation with the convention aligned; the conventions table in docs/config.md
lists them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.engine.activations import ReLU, Sigmoid, Softmax, Tanh
from dlzero_cli.engine.conv import AvgPool2D, Conv2D, MaxPool2D
from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.layers import Affine, BatchNorm, Dropout
from dlzero_cli.engine.losses import make_criterion
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.engine.schedules import lr_for_epoch

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "torch-reference.npz"
# Rounding differences only: the two compute the same functions in float64, grouping
# sums differently. |ours - theirs| <= TOLERANCE * max(1, |theirs|).
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def ref():
    with np.load(REFERENCE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def close(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    scale = np.maximum(1.0, np.abs(theirs))
    worst = float(np.max(np.abs(ours - theirs) / scale)) if ours.size else 0.0
    assert worst <= TOLERANCE, f"{what}: differs from PyTorch by {worst:.3g} (relative)"


def cases(ref, family: str) -> list[str]:
    return sorted({key.split("/")[1] for key in ref if key.startswith(family + "/")})


def settings(ref, key: str) -> dict[str, float]:
    names = ref[f"{key}/setting_names"].tolist()
    return dict(zip(names, ref[f"{key}/setting_values"].tolist(), strict=True))


def run(layer, x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    layer.training = True
    out = layer.forward(x.copy()).copy()
    return out, layer.backward(dout.copy()).copy()


def test_the_reference_file_is_small_and_plain():
    assert REFERENCE.stat().st_size < 200_000
    with np.load(REFERENCE, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)


def test_dense(ref):
    g = lambda name: ref[f"dense/{name}"]  # noqa: E731
    layer = Affine(g("W").copy(), g("b").copy())
    out, dx = run(layer, g("x"), g("dout"))
    close(out, g("out"), "dense out")
    close(dx, g("dx"), "dense dx")
    close(layer.grads["W"], g("dW"), "dense dW")
    close(layer.grads["b"], g("db"), "dense db")


@pytest.mark.parametrize("case", ["s1p1", "s2p0", "s1p2k5x3"])
def test_conv(ref, case):
    g = lambda name: ref[f"conv/{case}/{name}"]  # noqa: E731
    stride, pad = (int(v) for v in g("settings"))
    layer = Conv2D(g("W").copy(), g("b").copy(), stride, pad)
    out, dx = run(layer, g("x"), g("dout"))
    close(out, g("out"), f"conv {case} out")
    close(dx, g("dx"), f"conv {case} dx")
    close(layer.grads["W"], g("dW"), f"conv {case} dW")
    close(layer.grads["b"], g("db"), f"conv {case} db")


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
@pytest.mark.parametrize("case", ["k2s2p0", "k3s2p1", "k2s1p1", "k3s3p1"])
def test_pooling(ref, kind, case):
    g = lambda name: ref[f"{kind}/{case}/{name}"]  # noqa: E731
    size, stride, pad = (int(v) for v in g("settings"))
    layer = {"maxpool": MaxPool2D, "avgpool": AvgPool2D}[kind](size, stride, pad)
    out, dx = run(layer, g("x"), g("dout"))
    close(out, g("out"), f"{kind} {case} out")
    close(dx, g("dx"), f"{kind} {case} dx")


@pytest.mark.parametrize("case", ["dense", "spatial"])
def test_batchnorm_training_step_and_inference(ref, case):
    g = lambda name: ref[f"batchnorm/{case}/{name}"]  # noqa: E731
    features = g("gamma").shape[0]
    layer = BatchNorm(features, np.float64, momentum=0.9, eps=1e-5, spatial=case == "spatial")
    layer.params["gamma"][...], layer.params["beta"][...] = g("gamma"), g("beta")
    layer.buffers["running_mean"][...] = g("running_mean0")
    layer.buffers["running_var"][...] = g("running_var0")
    out, dx = run(layer, g("x"), g("dout"))
    close(out, g("out"), f"batchnorm {case} out")
    close(dx, g("dx"), f"batchnorm {case} dx")
    close(layer.grads["gamma"], g("dgamma"), f"batchnorm {case} dgamma")
    close(layer.grads["beta"], g("dbeta"), f"batchnorm {case} dbeta")
    close(layer.buffers["running_mean"], g("running_mean"), f"batchnorm {case} running_mean")
    # The book's biased batch variance (/N); PyTorch's own running_var uses /(N-1).
    close(layer.buffers["running_var"], g("running_var"), f"batchnorm {case} running_var")
    assert not np.allclose(layer.buffers["running_var"], g("running_var_torch"))
    layer.training = False
    close(layer.forward(g("x").copy()), g("eval_out"), f"batchnorm {case} inference")


def test_dropout_with_a_fixed_mask(ref):
    g = lambda name: ref[f"dropout/{name}"]  # noqa: E731
    layer = Dropout(float(g("ratio")), scale="train")
    layer._mask = g("mask").astype(bool)  # the one thing PyTorch and dlzero must share
    layer.hold_randomness(True)
    out, dx = run(layer, g("x"), g("dout"))
    close(out, g("out"), "dropout out")
    close(dx, g("dx"), "dropout dx")


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh", "softmax"])
def test_activations(ref, name):
    g = lambda key: ref[f"activation/{name}/{key}"]  # noqa: E731
    layer = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh, "softmax": Softmax}[name]()
    out, dx = run(layer, g("x"), g("dout"))
    close(out, g("out"), f"{name} out")
    close(dx, g("dx"), f"{name} dx")


LOSS_PAIRS = {
    "softmax_ce": ("cross_entropy", "softmax"),
    "sigmoid_bce": ("cross_entropy", "sigmoid"),
    "sigmoid_bce_binary": ("cross_entropy", "sigmoid"),
    "mse": ("mse", "identity"),
}


@pytest.mark.parametrize("case", sorted(LOSS_PAIRS))
def test_losses(ref, case):
    g = lambda key: ref[f"loss/{case}/{key}"]  # noqa: E731
    criterion = make_criterion(*LOSS_PAIRS[case])
    loss = criterion.forward(g("logits").copy(), g("labels").astype(np.int64))
    close(np.array(loss), g("loss"), f"{case} loss")
    close(criterion.backward(), g("dlogits"), f"{case} dlogits")


def test_every_loss_case_is_compared(ref):
    assert set(cases(ref, "loss")) == set(LOSS_PAIRS)


def test_a_network_through_the_fused_step(ref):
    from dlzero_cli.engine.activations import ReLU
    from dlzero_cli.engine.conv import Flatten
    from dlzero_cli.engine.fused import ConvReluPool
    from dlzero_cli.engine.network import Sequential

    g = lambda key: ref[f"network/{key}"]  # noqa: E731
    conv = Conv2D(g("conv_W").copy(), g("conv_b").copy(), 1, 1)
    dense = Affine(g("dense_W").copy(), g("dense_b").copy())
    network = Sequential([conv, ReLU(), MaxPool2D(2), Flatten(), dense])
    assert isinstance(network._plan[0], ConvReluPool)
    network.train()
    criterion = make_criterion("cross_entropy", "softmax")
    loss = criterion.forward(network.forward(g("x").copy()), g("labels").astype(np.int64))
    network.backward(criterion.backward())
    close(np.array(loss), g("loss"), "network loss")
    for ours, key in [
        (conv.grads["W"], "d_conv_W"),
        (conv.grads["b"], "d_conv_b"),
        (dense.grads["W"], "d_dense_W"),
        (dense.grads["b"], "d_dense_b"),
    ]:
        close(ours, g(key), f"network {key}")


def test_optimizer_trajectories(ref):
    X, Y = ref["optim/X"], ref["optim/Y"]
    compared = []
    for case in cases(ref, "optim"):
        if case in ("X", "Y", "W0", "b0"):
            continue
        W, b = ref["optim/W0"].copy(), ref["optim/b0"].copy()
        name = str(ref[f"optim/{case}/name"])
        optimizer = OPTIMIZERS.get(name)(
            {"0.W": W, "0.b": b}, decayed={"0.W"}, **settings(ref, f"optim/{case}")
        )
        for step in range(ref[f"optim/{case}/W"].shape[0]):
            residual = X @ W + b - Y
            grads = {"0.W": X.T @ residual / len(X), "0.b": residual.sum(axis=0) / len(X)}
            optimizer.step(grads)
            close(W, ref[f"optim/{case}/W"][step], f"{case} W after step {step + 1}")
            close(b, ref[f"optim/{case}/b"][step], f"{case} b after step {step + 1}")
        compared.append(name)
    # Every optimizer PyTorch has a counterpart of (nesterov_book is the book's own).
    assert set(compared) == set(OPTIMIZERS.names()) - {"nesterov_book"}


def test_schedules(ref):
    epochs, base = int(ref["schedule/epochs"]), float(ref["schedule/base_lr"])
    compared = set()
    for case in cases(ref, "schedule"):
        if case in ("epochs", "base_lr"):
            continue
        options = settings(ref, f"schedule/{case}")
        warmup = int(options.pop("warmup_epochs", 0))
        options = {k: int(v) if k == "step_size" else v for k, v in options.items()}
        name = str(ref[f"schedule/{case}/name"])
        ours = [
            lr_for_epoch(name, base, epoch, epochs, warmup, **options)
            for epoch in range(1, epochs + 1)
        ]
        close(np.array(ours), ref[f"schedule/{case}/lr"], f"schedule {case}")
        compared.add(name)
    from dlzero_cli.engine.schedules import SCHEDULES

    assert compared == set(SCHEDULES.names())


@pytest.mark.parametrize("case", ["dense", "conv"])
def test_initialiser_scales(ref, case):
    g = lambda key: float(ref[f"init/{case}/{key}"])  # noqa: E731
    if case == "dense":  # dlzero's W is (in, out), PyTorch's Linear weight (out, in)
        layer = Affine.zeros(784, 50, np.float64)
    else:
        layer = Conv2D(np.zeros((30, 1, 5, 5)), np.zeros(30))
    assert layer.fan_in == g("fan_in")
    shape = layer.params["W"].shape
    unit = np.random.default_rng(0).standard_normal(shape)
    for name, expected in (("xavier", g("xavier")), ("he", g("he"))):
        drawn = INITIALIZERS.get(name)(
            np.random.default_rng(0), shape, layer.fan_in, np.float64, "relu", 0.01
        )
        close(
            np.array(drawn[unit != 0].flat[0] / unit[unit != 0].flat[0]), np.array(expected), name
        )
    # The book's xavier is not Glorot's: sqrt(1/fan_in) vs sqrt(2/(fan_in + fan_out)).
    assert g("xavier") != pytest.approx(g("glorot"), rel=1e-3)
