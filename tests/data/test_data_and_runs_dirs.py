"""DLZERO_DATA_DIR and DLZERO_RUNS_DIR (issue 12, section 6): with both set, every
command that reads data or runs finds them there, from any current folder, and writes
nothing into the current folder."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dlzero_cli.cli import app
from dlzero_cli.data.store import default_data_dir

CONFIG = """\
name: env-tiny
data: {dataset: tiny-cache, validation: 4}
model: {layers: 16-5-3}
train: {epochs: 2, batch_size: 4}
"""
SWEEP = """\
base: base.yaml
name: env-sweep
metric: val_accuracy
trials: 2
seed: 0
space:
  train.optimizer.lr: {loguniform: [0.01, 0.5]}
"""


@pytest.fixture
def elsewhere(tmp_path, monkeypatch, tiny, registered):
    """Data and runs folders set by the environment only, and an empty current folder.
    Returns (run `dlzero ARGS` there, data dir, runs dir, inputs folder, cwd)."""
    registered(tiny)
    data_dir, runs_dir, cwd, inputs = (tmp_path / n for n in ("data", "runs", "cwd", "in"))
    cwd.mkdir()
    inputs.mkdir()
    (inputs / "tiny.yaml").write_text(CONFIG, encoding="utf-8")
    (inputs / "base.yaml").write_text(CONFIG, encoding="utf-8")
    (inputs / "sweep.yaml").write_text(SWEEP, encoding="utf-8")
    np.save(inputs / "sample.npy", np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 15)
    monkeypatch.chdir(cwd)
    env = {"DLZERO_DATA_DIR": str(data_dir), "DLZERO_RUNS_DIR": str(runs_dir), "COLUMNS": "200"}
    runner = CliRunner()

    def dlzero(*args: str):
        result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"dlzero {' '.join(args)}: {result.stderr}"
        assert "warning:" not in result.stderr, result.stderr
        return result

    return dlzero, data_dir, runs_dir, inputs, cwd


def test_train_and_eval_from_another_folder_write_nothing_there(elsewhere, tiny):
    dlzero, data_dir, runs_dir, inputs, cwd = elsewhere
    dlzero("download", "tiny-cache", "--mirror", str(tiny.mirror))
    assert (data_dir / "tiny-cache" / "train-images-idx3-ubyte.gz").is_file()
    dlzero("train", str(inputs / "tiny.yaml"), "--quiet")
    [run] = runs_dir.iterdir()
    report = json.loads(dlzero("eval", "latest", "--json").stdout)
    assert 0 <= report["accuracy"] <= 1
    assert list(run.glob("eval-tiny-cache-*.json"))
    assert list(cwd.iterdir()) == []  # no data/, no runs/, nothing


@pytest.mark.slow  # 14 commands, a sweep among them
def test_every_command_honours_both_variables_and_writes_nothing_in_cwd(elsewhere, tiny):
    dlzero, data_dir, runs_dir, inputs, cwd = elsewhere
    dlzero("download", "tiny-cache", "--mirror", str(tiny.mirror))
    assert "train, test" in dlzero("datasets").stdout
    dlzero("check", str(inputs / "tiny.yaml"))
    dlzero("train", str(inputs / "tiny.yaml"), "--quiet")
    dlzero("train", str(inputs / "tiny.yaml"), "--quiet", "--set", "train.epochs=1")
    runs = sorted(p.name for p in runs_dir.iterdir())
    assert len(runs) == 2
    dlzero("eval", "latest")
    dlzero("predict", "latest", str(inputs / "sample.npy"))
    listed = json.loads(dlzero("runs", "--json").stdout)
    assert len(listed) == 2
    dlzero("runs", "show", "latest")
    dlzero("runs", "verify", "latest")
    dlzero("inspect", "latest")
    dlzero("compare", runs[0], runs[1])
    dlzero("gradcheck", "latest")
    dlzero("graph", "latest", "--backward", "--samples", "4")
    dlzero("summary", str(inputs / "tiny.yaml"))
    dlzero("sweep", str(inputs / "sweep.yaml"), "--serial", "--quiet")
    written = sorted(p.name for p in runs_dir.iterdir())
    # Two runs started in the same second are `...-env-tiny` and `...-env-tiny-2`.
    assert sum(re.search(r"-env-tiny(-\d+)?$", name) is not None for name in written) == 2
    assert sum(name.endswith("-env-sweep") for name in written) == 1
    assert f"compare-{runs[0]}-vs-{runs[1]}.png" in written and len(written) == 4
    assert list(cwd.iterdir()) == []  # no data/, no runs/, nothing


@pytest.mark.slow  # downloads and evaluates the 10,000 MNIST test images
def test_real_mnist_and_the_books_weights_through_the_variables(elsewhere, shared_data):
    dlzero, data_dir, runs_dir, inputs, cwd = elsewhere
    mnist, weights = shared_data("mnist", "book/ch03_sample_weight.pkl")
    dlzero("download", "mnist", "--split", "test", "--mirror", str(mnist))
    dlzero("import", "book", str(weights), "-c", "book-ch03-sample-weight")
    report = json.loads(dlzero("eval", "latest", "--split", "test", "--json").stdout)
    assert report["accuracy"] == pytest.approx(0.9352, abs=5e-5)
    assert (data_dir / "mnist" / ".cache" / "t10k-images-idx3-ubyte.json").is_file()
    assert len(list(runs_dir.iterdir())) == 1
    assert list(cwd.iterdir()) == []


def test_a_relative_or_home_relative_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DLZERO_DATA_DIR", "~/datasets")
    assert default_data_dir() == tmp_path / "datasets"
    monkeypatch.setenv("DLZERO_DATA_DIR", "")  # set but empty: the default, not the cwd
    assert default_data_dir() == Path("data")
    monkeypatch.delenv("DLZERO_DATA_DIR")
    assert default_data_dir() == Path("data")
    assert os.sep not in str(default_data_dir())
