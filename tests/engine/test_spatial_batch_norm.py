"""Batch norm after a convolution normalises each channel over N*H*W values, so one
sample of feature maps is a batch it can train on (as PyTorch allows); after dense
layers a batch of one is still refused."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.config.layers import compile_layers
from dlzero_cli.engine.layers import BatchNorm
from dlzero_cli.errors import ConfigError, EngineError

CONV_BN = [{"conv": {"filters": 2, "kernel": 3}}, "batchnorm", "relu", "flatten", {"dense": 10}]


def built(entries, input_shape=(1, 8, 8)):
    return compile_layers(entries, input_shape, lambda i: ("model", "layers", i), np.float64)


def test_spatial_batch_norm_on_one_sample_has_the_numerical_gradient(check_layer):
    rng = np.random.default_rng(3)
    layer = built(["batchnorm"], (3, 4, 5)).layers[0]
    assert layer.spatial and layer.min_batch == 1
    layer.params["gamma"][...] = rng.normal(size=3)
    layer.params["beta"][...] = rng.normal(size=3)
    layer.training = True
    x = rng.normal(size=(1, 3, 4, 5))
    out = layer.forward(x)
    # Each channel of the one sample has mean beta and standard deviation |gamma|.
    centred = (out - layer.params["beta"][None, :, None, None]) / layer.params["gamma"][
        None, :, None, None
    ]
    np.testing.assert_allclose(centred.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(centred.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    check_layer(layer, x, rng)


def test_one_position_per_channel_still_needs_two_samples():
    layer = built(["batchnorm"], (3, 1, 1)).layers[0]
    assert layer.spatial and layer.min_batch == 2
    layer.training = True
    with pytest.raises(EngineError, match="cannot train on a batch of 1 sample"):
        layer.forward(np.ones((1, 3, 1, 1)))
    assert BatchNorm(4, np.float64).min_batch == 2  # dense outputs


def test_a_conv_net_with_batch_norm_takes_batch_size_1():
    overrides = [f"model.layers={CONV_BN}".replace("'", '"'), "train.batch_size=1"]
    config = load_config("digits-64-50-100-10", ["data.validation=0", *overrides]).config
    assert config.train.batch_size == 1
    with pytest.raises(ConfigError, match="batch norm needs batches of at least 2"):
        load_config("digits-64-50-100-10", ["model.batch_norm=true", "train.batch_size=1"])


def test_a_conv_net_with_batch_norm_trains_on_batches_of_one(cli, write_config):
    path = write_config(
        "name: conv-bn-1\ndata: {dataset: digits, validation: 0, limit: 5}\n"
        "model:\n  layers: [{conv: {filters: 2, kernel: 3}}, batchnorm, relu, flatten, "
        "{dense: 10}]\ntrain: {epochs: 1, batch_size: 1}\n"
    )
    result = cli("train", str(path), "--quiet")
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr
