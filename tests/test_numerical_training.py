"""train.gradient: numerical: chapter 4's central differences give backprop's updates."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.engine.activations import Sigmoid
from dlzero_cli.engine.layers import Affine
from dlzero_cli.engine.losses import make_criterion
from dlzero_cli.engine.network import Sequential
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.runs.lifecycle import train_from_config
from dlzero_cli.runs.splits import load_splits
from dlzero_cli.training import numerical_gradients


def small_network(seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    first, second = Affine.zeros(4, 5, np.float64), Affine.zeros(5, 3, np.float64)
    for layer in (first, second):
        for param in layer.params.values():
            param[...] = rng.standard_normal(param.shape)
    return Sequential([first, Sigmoid(), second])


def one_step(network: Sequential, x, labels, numerical: bool) -> dict[str, np.ndarray]:
    """One SGD step (lr 0.5); the update of every parameter."""
    criterion = make_criterion("cross_entropy", "softmax")
    grads = network.named_grads()
    before = {k: v.copy() for k, v in network.named_params().items()}
    network.train()
    criterion.forward(network.forward(x), labels)
    if numerical:
        numerical_gradients(network, criterion, x, labels, grads)
    else:
        network.backward(criterion.backward())
    OPTIMIZERS.get("sgd")(network.named_params(), lr=0.5).step(grads)
    return {k: v - before[k] for k, v in network.named_params().items()}


def test_one_numerical_step_updates_the_weights_as_backprop_does():
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
    by_backprop = one_step(small_network(0), x, labels, numerical=False)
    by_differences = one_step(small_network(0), x, labels, numerical=True)
    assert by_backprop.keys() == by_differences.keys()
    for name, update in by_backprop.items():
        assert np.abs(update).max() > 1e-3  # a real step, not zeros on both sides
        np.testing.assert_allclose(by_differences[name], update, atol=1e-6, rtol=0, err_msg=name)


def test_numerical_gradients_leave_the_weights_and_predictions_as_they_were():
    network = small_network(0)
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
    criterion = make_criterion("cross_entropy", "softmax")
    before = {k: v.copy() for k, v in network.named_params().items()}
    criterion.forward(network.forward(x), labels)
    scores = criterion.y.copy()
    numerical_gradients(network, criterion, x, labels, network.named_grads())
    for name, param in network.named_params().items():
        np.testing.assert_array_equal(param, before[name])
    np.testing.assert_array_equal(criterion.y, scores)


TINY = ["data.limit=40", "train.batch_size=20", "train.epochs=2", "model.layers=64-6-10",
        "train.dtype=float64", "train.diagnostics=false"]  # fmt: skip


def test_a_numerical_run_ends_where_a_backprop_run_does(tmp_path):
    runs = {}
    for gradient in ("backprop", "numerical"):
        loaded = load_config("digits-64-50-100-10", [*TINY, f"train.gradient={gradient}"])
        runs[gradient] = train_from_config(loaded, tmp_path / gradient)
    a, b = (runs[g].folder.read_model(last=True).network.named_params() for g in runs)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=1e-6, rtol=0, err_msg=name)
    assert runs["backprop"].slowdown is None and runs["numerical"].slowdown > 10


def test_too_slow_an_epoch_is_refused_in_one_line_before_a_run_folder_exists(cli):
    result = cli("train", "ch4-numerical-gradient", "--set", "train.numerical_limit_seconds=0.001")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: train.gradient: numerical would take about ")
    assert "over train.numerical_limit_seconds (0.001)" in line
    assert "--set train.numerical_limit_seconds=" in line
    assert not cli.runs_dir.exists() or not any(cli.runs_dir.iterdir())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.dtype=float32", "numerical needs train.dtype: float64 (now float32)"),
        ("model.dropout=0.2", "numerical cannot train through dropout"),
        ("model.batch_norm=true", "numerical cannot train through batchnorm"),
    ],
)
def test_numerical_gradients_refuse_what_they_cannot_do_at_load(override, message):
    from dlzero_cli.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config("ch4-numerical-gradient", [override])
    [line] = str(info.value).splitlines()
    assert re.search(r"ch4-numerical-gradient\.yaml:\d+: train\.gradient: ", line), line
    assert message in line


def test_plan_counts_two_forward_passes_per_parameter_entry():
    from dlzero_cli.runs.planning import plan_numerical

    loaded = load_config("ch4-numerical-gradient")
    plan = plan_numerical(loaded, load_splits(loaded, wanted=("train",)))
    assert plan.parameters == 64 * 10 + 10 + 10 * 10 + 10
    assert plan.passes_per_step == 2 * plan.parameters + 1
    assert plan.seconds_per_pass > 0 and plan.epoch_seconds < plan.limit_seconds


@pytest.mark.slow
def test_the_chapter_4_config_learns_and_says_how_much_slower_it_was(cli):
    result = cli("train", "ch4-numerical-gradient", "--epochs", "3")
    assert result.exit_code == 0, result.stderr
    assert "forward passes per step" in result.stderr
    assert "times slower per step than backprop on the same network" in result.stdout
