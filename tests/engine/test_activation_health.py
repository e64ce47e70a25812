"""Each activation kind declares how its outputs get stuck (Layer.health)."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.activations import ACTIVATIONS, ReLU, Sigmoid, Tanh
from dlzero_cli.engine.layers import LAYERS, Affine


def test_sigmoid_counts_outputs_within_001_of_its_bounds():
    out = np.array([[0.005, 0.5, 0.995, 0.02]])
    assert Sigmoid().health(out) == {"saturated": 0.5}


def test_tanh_bounds_are_minus_one_and_one():
    out = np.array([[-0.995, 0.0, 0.98, 0.999]])
    assert Tanh().health(out) == {"saturated": 0.5}


def test_relu_reports_zero_outputs_and_units_that_never_fire():
    out = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 2.0, 3.0, 0.0]])  # units 0 and 3 never fire
    health = ReLU().health(out)
    assert health == {"zero": pytest.approx(5 / 8), "dead_units": 0.5}


def test_relu_dead_units_are_channels_for_feature_maps():
    out = np.zeros((2, 3, 4, 4))
    out[1, 0, 2, 2] = 1.0  # channel 0 fires once; channels 1 and 2 never
    assert ReLU().health(out)["dead_units"] == pytest.approx(2 / 3)


def test_layers_that_cannot_get_stuck_report_nothing():
    assert Affine.zeros(2, 3, np.float64).health(np.ones((1, 3))) == {}
    assert ACTIVATIONS.get("identity")().health(np.ones((1, 3))) == {}


@pytest.mark.parametrize("kind", ["dropout", "batchnorm"])
def test_dropout_and_batch_norm_are_not_repeatable_in_training(kind):
    assert LAYERS.get(kind).repeatable is False
    assert LAYERS.get("dense").repeatable and LAYERS.get("sigmoid").repeatable
