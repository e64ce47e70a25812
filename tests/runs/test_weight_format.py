"""Weight files of architecture format 1 (before each layer kind was declared once)
are read under today's names; an unknown format is one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.engine.layers import Affine, BatchNorm
from dlzero_cli.engine.network import Sequential
from dlzero_cli.runs.formats import upgrade_architecture


def test_format_1_weight_files_are_read_under_the_new_names():
    old = {
        "format": 1,
        "layers": [
            {"type": "conv", "filters": 2, "channels": 1, "kernel": [3, 3], "stride": 1,
             "pad": 1},
            {"type": "batchnorm2d", "features": 2, "momentum": 0.9, "eps": 1e-5},
            {"type": "maxpool", "size": 2, "stride": 2, "pad": 0},
            {"type": "affine", "in": 32, "out": 10},
            {"type": "batchnorm", "features": 10, "momentum": 0.9, "eps": 1e-5},
            {"type": "dropout", "ratio": 0.5},
        ],
    }  # fmt: skip
    new = upgrade_architecture(old)
    assert new["format"] == 2 and old["format"] == 1  # the input is left alone
    assert [spec["type"] for spec in new["layers"]] == [
        "conv", "batchnorm", "maxpool", "dense", "batchnorm", "dropout",
    ]  # fmt: skip
    assert new["layers"][0]["padding"] == 1 and "pad" not in new["layers"][0]
    assert [new["layers"][i]["spatial"] for i in (1, 4)] == [True, False]
    assert new["layers"][5]["scale"] == "train"
    network = Sequential.from_spec(new["layers"], np.float32)
    assert isinstance(network.layers[3], Affine) and isinstance(network.layers[1], BatchNorm)
    assert network.output_shape((1, 8, 8)) == (10,)


def test_an_unknown_architecture_format_says_so():
    with pytest.raises(ValueError, match="unsupported architecture format 3 .*reads 1 to 2"):
        upgrade_architecture({"format": 3, "layers": []})
