"""Weights that are not (or would not be) finite are refused in one line that names
them as the user knows them (model.init_std, W3), with no NumPy warning, no `param/`
key and no hidden `.partial` path."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import ConfigError
from dlzero_cli.runs.lifecycle import train_from_config


@pytest.mark.parametrize(
    "config, dtype",
    # float32: every weight overflows in the cast; float64: those drawn beyond 1.8 sigma
    # in the multiplication (of 8,700 draws, some always are).
    [("xor-2-4-1", "float32"), ("digits-64-50-100-10", "float64")],
)
def test_an_init_std_too_large_is_refused_naming_the_setting(tmp_path, config, dtype):
    loaded = load_config(config, ["model.init=std", "model.init_std=1e308", f"train.dtype={dtype}"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning fails the test
        with pytest.raises(ConfigError) as info:
            train_from_config(loaded, tmp_path / "runs")
    message = str(info.value)
    assert "model.init_std: 1e+308 is too large: the initial weights are not finite" in message
    assert "param/" not in message and ".partial" not in message and "\n" not in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_cli_says_it_in_one_line_with_exit_2(cli):
    result = cli(
        "train", "xor-2-4-1", "--quiet", "--set", "model.init=std", "--set", "model.init_std=1e308"
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "model.init_std" in result.stderr and "Warning" not in result.stderr


def test_import_refuses_values_beyond_the_dtype_before_casting(cli, tmp_path):
    huge = tmp_path / "huge.pkl"
    params = {f"W{i}": np.ones(s) for i, s in ((1, (784, 50)), (2, (50, 100)), (3, (100, 10)))}
    params.update({f"b{i}": np.ones(n) for i, n in ((1, 50), (2, 100), (3, 10))})
    params["W3"] = np.full((100, 10), 1e300)
    huge.write_bytes(pickle.dumps(params))
    result = cli("import", "book", str(huge), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "W3" in result.stderr and "param/" not in result.stderr
    assert "Warning" not in result.stderr
    assert not cli.runs_dir.exists() or not any(cli.runs_dir.iterdir())
