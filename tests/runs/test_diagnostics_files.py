"""diagnostics.csv and activations.png: in every run, off at no cost, resumed in step."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.diagnostics import MAX_RECORDS, measured, parameter_labels
from dlzero_cli.engine.activations import Sigmoid
from dlzero_cli.engine.layers import Affine, BatchNorm
from dlzero_cli.engine.network import Sequential
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.formats import read_arrays
from dlzero_cli.runs.lifecycle import RunCallbacks, RunInterrupted, resume_run, train_from_config

PNG = b"\x89PNG\r\n\x1a\n"


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "diagnostics.csv") as f:
        return list(csv.DictReader(f))


def value(table, epoch: int, layer: int, name: str, metric: str) -> float:
    key = (str(epoch), str(layer), name, metric)
    [row] = [r for r in table if (r["epoch"], r["layer"], r["name"], r["metric"]) == key]
    return float(row["value"])


def test_every_run_records_diagnostics_per_epoch_and_layer(train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "3")
    table = rows(run)
    assert list(table[0]) == ["epoch", "layer", "kind", "name", "metric", "value"]
    assert {r["epoch"] for r in table} == {"1", "2", "3"}
    assert 0 <= value(table, 3, 1, "out", "saturated") <= 1
    assert 0 < value(table, 3, 3, "out", "std") < 0.5  # a sigmoid's outputs
    assert value(table, 3, 0, "W1", "weight_norm") > 0
    assert 0 < value(table, 3, 4, "W3", "update_ratio") < 1
    assert value(table, 3, 4, "b3", "grad_norm") > 0
    assert (run / "activations.png").read_bytes().startswith(PNG)


def test_diagnostics_off_writes_neither_file(train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "2", "--set", "train.diagnostics=false")
    assert not (run / "diagnostics.csv").exists() and not (run / "activations.png").exists()


def test_diagnostics_change_no_weight(tmp_path):
    """Measured in eval mode on a batch of their own: dropout masks, batch-norm moments
    and the training generator are untouched."""
    sets = ["train.epochs=3", "model.batch_norm=true", "model.dropout=0.2",
            "model.activation=relu"]  # fmt: skip
    on = train_from_config(load_config(None, sets), tmp_path / "on").folder.path
    off_sets = [*sets, "train.diagnostics=false"]
    off = train_from_config(load_config(None, off_sets), tmp_path / "off").folder.path
    assert (on / "diagnostics.csv").is_file()
    a, b = read_arrays(on / "last.npz"), read_arrays(off / "last.npz")
    for key in a:
        if key != "architecture":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


class StopAfter(RunCallbacks):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_done(self, record):
        if record.epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_resumed_run_continues_the_diagnostics_as_if_never_stopped(tmp_path):
    loaded = load_config(None, ["train.epochs=5"])
    whole = train_from_config(loaded, tmp_path / "whole").folder.path
    with pytest.raises(RunInterrupted) as info:
        train_from_config(loaded, tmp_path / "split", StopAfter(2))
    run = info.value.folder.path
    assert {r["epoch"] for r in rows(run)} == {"1", "2"}
    resume_run(RunFolder(run))
    assert (run / "diagnostics.csv").read_text() == (whole / "diagnostics.csv").read_text()


def test_long_runs_are_measured_on_at_most_max_records_epochs_and_the_last():
    epochs = [e for e in range(1, 2001) if measured(e, 2000)]
    assert len(epochs) <= MAX_RECORDS + 1 and epochs[0] == 1 and epochs[-1] == 2000
    assert all(measured(e, 100) for e in range(1, 101))


def test_parameters_are_named_as_the_book_names_them():
    net = Sequential([Affine.zeros(4, 5, np.float32), BatchNorm(5, np.float32), Sigmoid(),
                      Affine.zeros(5, 3, np.float32)])  # fmt: skip
    assert parameter_labels(net) == {
        "0.W": "W1", "0.b": "b1", "1.gamma": "gamma1", "1.beta": "beta1",
        "3.W": "W2", "3.b": "b2",
    }  # fmt: skip


# The book's figures 6-10 to 6-14 on the digits: five sigmoid layers of 100 units.
BOOK_NET = ["train.epochs=1", "model.layers=64-100-100-100-100-10"]


def hidden_sigmoids(cli_run) -> list[dict[str, float]]:
    table = rows(cli_run)
    return [
        {m: value(table, 1, layer, "out", m) for m in ("std", "saturated")}
        for layer in (1, 3, 5, 7)
    ]


def test_init_std_1_saturates_std_001_concentrates_xavier_spreads(train_run, cli):
    def run(*sets: str):
        args = [a for s in (*BOOK_NET, *sets) for a in ("--set", s)]
        return train_run("digits-64-50-100-10", *args)

    wide = hidden_sigmoids(run("model.init=std", "model.init_std=1.0"))
    narrow = hidden_sigmoids(run("model.init=std", "model.init_std=0.01"))
    xavier_run = run("model.init=xavier")
    xavier = hidden_sigmoids(xavier_run)
    assert wide[-1]["saturated"] > 0.5  # figure 6-10: piled up at 0 and 1
    assert all(layer["saturated"] == 0 and layer["std"] < 0.05 for layer in narrow)  # 6-11
    assert all(x["std"] > 3 * n["std"] for x, n in zip(xavier, narrow, strict=True))  # 6-13
    assert all(layer["saturated"] < 0.05 for layer in xavier)
    result = cli("inspect", str(xavier_run))
    assert result.exit_code == 0 and "no warnings" in result.stdout


@pytest.fixture
def mnist_dir(shared_data, cli, tmp_path):
    """A data folder with MNIST installed from the shared copy (or a skip)."""
    mirror = shared_data("mnist/train-images-idx3-ubyte.gz").parent
    data = tmp_path / "data"
    result = cli("download", "mnist", "--mirror", str(mirror), "--data-dir", str(data))
    assert result.exit_code == 0, result.stderr
    return data


@pytest.mark.slow
def test_the_chapter_6_init_configs_differ_as_the_book_says(train_run, mnist_dir):
    """ReLU layers started from std 0.01 pass on ever weaker signals (they vanish);
    Xavier keeps them alive, a little weaker per layer."""
    stds = {}
    for config in ("ch6-init-std", "ch6-init-xavier"):
        run = train_run(config, "--data-dir", str(mnist_dir), "--limit", "1000", "--epochs", "1")
        table = rows(run)
        stds[config] = [value(table, 1, layer, "out", "std") for layer in (1, 3, 5, 7)]
    std, xavier = stds["ch6-init-std"], stds["ch6-init-xavier"]
    assert std[-1] < 1e-3 < 1e-2 < xavier[-1]
    assert all(a > 5 * b for a, b in zip(std, std[1:], strict=False))  # shrinks per layer
    ratios = [x / s for x, s in zip(xavier, std, strict=True)]
    assert ratios == sorted(ratios) and ratios[0] > 2 and ratios[-1] > 100
