"""Every registered layer kind keeps the promises of its one declaration: built from its
settings it has the declared output shape, its spec rebuilds it, and the network built
from it is right at any batch size in any order of calls (the scratch memory the
convolution path reuses must never leak from one call into another)."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.declaration import REQUIRED, Setting
from dlzero_cli.engine.layers import LAYERS
from dlzero_cli.engine.network import Sequential


def example_value(setting: Setting):
    """A valid value for a required setting (a small size, a ratio, ...)."""
    if setting.type is int:
        return max(int(setting.minimum or 0), 1) + 1
    if setting.type is float:
        return 0.5
    return setting.choices[0]


def example_settings(kind) -> dict:
    return {s.name: example_value(s) if s.default is REQUIRED else s.default for s in kind.settings}


@pytest.mark.parametrize("name", LAYERS.names())
def test_a_kind_built_from_its_settings_keeps_its_declared_shape_and_spec(name):
    kind = LAYERS.get(name)
    assert kind.kind == name
    rng = np.random.default_rng(0)
    input_shape = (3, 6, 6)
    layer = kind.build(example_settings(kind), input_shape, np.dtype(np.float64), rng)
    for param in layer.params.values():
        param[...] = rng.standard_normal(param.shape)
    x = rng.standard_normal((4, *input_shape))
    out = layer.forward(x)
    assert out.shape == (4, *layer.output_shape(input_shape))
    assert layer.parameter_count() == sum(p.size for p in layer.params.values())
    assert layer.describe()
    rebuilt = kind.from_spec(layer.spec(), np.dtype(np.float64), rng)
    assert rebuilt.spec() == layer.spec()
    assert {k: v.shape for k, v in rebuilt.params.items()} == {
        k: v.shape for k, v in layer.params.items()
    }
    # A bare number stands for the shorthand setting, which must be one of the settings.
    if kind.shorthand is not None:
        assert kind.shorthand in {s.name for s in kind.settings}


def clone(network: Sequential, rng_seed: int = 5) -> Sequential:
    """A fresh network (fresh scratch memory) with the same parameters and buffers."""
    copy = Sequential.from_spec(network.spec(), network.layers[0].params["W"].dtype)
    copy.load_params({k: v.copy() for k, v in network.named_params().items()})
    copy.load_buffers({k: v.copy() for k, v in network.named_buffers().items()})
    return copy


def cnn(rng: np.random.Generator) -> Sequential:
    """Every path of the convolution code: the fused conv-ReLU-pool step, pool-then-ReLU,
    a conv whose pooling does not tile, average pooling, spatial and dense batch norm."""
    specs = [
        {"type": "conv", "filters": 4, "channels": 1, "kernel": [3, 3], "stride": 1, "padding": 1},
        {"type": "relu"},
        {"type": "maxpool", "size": 2, "stride": 2, "padding": 0},
        {"type": "batchnorm", "features": 4, "momentum": 0.9, "eps": 1e-5, "spatial": True},
        {"type": "conv", "filters": 3, "channels": 4, "kernel": [2, 2], "stride": 1, "padding": 0},
        {"type": "relu"},
        {"type": "maxpool", "size": 2, "stride": 1, "padding": 0},
        {"type": "avgpool", "size": 2, "stride": 2, "padding": 1},
        {"type": "flatten"},
        {"type": "dense", "in": 12, "out": 6},
        {"type": "batchnorm", "features": 6, "momentum": 0.9, "eps": 1e-5, "spatial": False},
        {"type": "relu"},
        {"type": "dense", "in": 6, "out": 3},
    ]
    network = Sequential.from_spec(specs, np.float64)
    for param in network.named_params().values():
        param[...] = rng.standard_normal(param.shape)
    return network


def train_step(network: Sequential, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    network.train()
    out = network.forward(x).copy()
    network.backward(np.sin(out))  # any fixed upstream gradient
    return out, {k: g.copy() for k, g in network.named_grads().items()}


def infer(network: Sequential, x: np.ndarray) -> np.ndarray:
    network.eval()
    return network.forward(x).copy()


def test_any_batch_size_in_any_order_gives_what_a_fresh_network_gives():
    rng = np.random.default_rng(3)
    network = cnn(rng)
    batches = [rng.standard_normal((n, 1, 8, 8)) for n in (8, 5, 1, 8)]

    def check(step, x):
        fresh = clone(network)
        ours, theirs = step(network, x), step(fresh, x)
        if isinstance(ours, tuple):
            np.testing.assert_array_equal(ours[0], theirs[0])
            for name in ours[1]:
                np.testing.assert_array_equal(ours[1][name], theirs[1][name], err_msg=name)
        else:
            np.testing.assert_array_equal(ours, theirs)

    check(train_step, batches[0])  # train at 8
    check(infer, batches[1])  # evaluate at another batch size
    check(infer, batches[2])  # predict one sample
    check(train_step, batches[3])  # train again at 8
    check(infer, batches[1])  # and evaluate again
    # One sample alone is scored as it is within a batch (eval mode: no batch statistics).
    single = infer(network, batches[1][2:3])
    np.testing.assert_allclose(single, infer(network, batches[1])[2:3], rtol=1e-12)
