"""Same config and seed, same numbers; run folders are unique and written atomically."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import numpy as np
import pytest

from dlzero_cli.errors import RunError
from dlzero_cli.runs.folder import RunFolder, write_json
from dlzero_cli.runs.formats import read_arrays


def metrics_without_time(run):
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def train_twice(cli, *args):
    runs = []
    for _ in range(2):
        assert cli("train", *args, "--quiet").exit_code == 0
        runs.append(cli.latest_run())
    return runs


@pytest.mark.parametrize("sampling", ["shuffle", "random"])
def test_same_seed_gives_identical_weights_and_metrics(cli, sampling):
    a, b = train_twice(cli, "--epochs", "5", "--set", f"train.sampling={sampling}")
    assert a != b
    wa, wb = read_arrays(a / "weights.npz"), read_arrays(b / "weights.npz")
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name])
    assert metrics_without_time(a) == metrics_without_time(b)


def test_different_seed_gives_different_weights(cli):
    assert cli("train", "--epochs", "1", "--seed", "1", "--quiet").exit_code == 0
    first = read_arrays(cli.latest_run() / "weights.npz")["param/0.W"]
    assert cli("train", "--epochs", "1", "--seed", "2", "--quiet").exit_code == 0
    second = read_arrays(cli.latest_run() / "weights.npz")["param/0.W"]
    assert not np.array_equal(first, second)


def test_run_folders_are_unique_within_one_second(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    folders = [RunFolder.create(tmp_path, "net", now).path for _ in range(3)]
    assert [f.name for f in folders] == [
        "20260102T030405Z-net",
        "20260102T030405Z-net-2",
        "20260102T030405Z-net-3",
    ]


def test_latest_is_the_most_recently_started_run(cli):
    assert cli("train", "and-2-1", "--quiet").exit_code == 0
    assert cli("train", "xor-2-1", "--quiet").exit_code == 0
    newest = cli.latest_run()
    assert RunFolder.find("latest", cli.runs_dir).path == newest
    assert newest.name.endswith("xor-2-1")


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "summary.json"
    write_json(target, {"status": "completed"})
    with pytest.raises(TypeError):
        write_json(target, {"status": object()})  # not JSON-serialisable mid-write
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_weights_load_without_pickle_and_carry_the_architecture(cli):
    assert cli("train", "xor-2-4-1", "--quiet").exit_code == 0
    with np.load(cli.latest_run() / "weights.npz", allow_pickle=False) as data:
        architecture = json.loads(str(data["architecture"]))
    assert [layer["type"] for layer in architecture["layers"]] == ["dense", "sigmoid", "dense"]
    assert architecture["output"] == "sigmoid" and architecture["class_names"] == ["0", "1"]


def test_unreadable_weights_are_a_run_error(cli):
    assert cli("train", "and-2-1", "--quiet").exit_code == 0
    run = cli.latest_run()
    (run / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(RunError, match="not a readable dlzero weight file"):
        read_arrays(run / "weights.npz")
    result = cli("eval", str(run))
    assert result.exit_code == 1 and result.stderr.startswith("error: ")


def test_diverging_training_stops_with_status_diverged(cli):
    result = cli(
        "train",
        "--set",
        "train.optimizer.lr=1e6",
        "--set",
        "model.activation=relu",
        "--set",
        "model.init=std",
        "--set",
        "model.init_std=100.0",
        "--quiet",
    )
    assert result.exit_code == 1
    assert "training diverged" in result.stderr and "lower train.optimizer.lr" in result.stderr
    summary = json.loads((cli.latest_run() / "summary.json").read_text())
    assert summary["status"] == "diverged"
    # Diverged within epoch 1: no weight file (a finite epoch's weights are tested in
    # tests/runs/test_status_truth.py).
    assert "no weight file was written" in result.stderr
    assert not (cli.latest_run() / "weights.npz").exists()


def test_ctrl_c_keeps_weights_curves_and_says_interrupted(tmp_path):
    from dlzero_cli.config import load_config
    from dlzero_cli.runs.lifecycle import RunCallbacks, train_from_config

    class CtrlCAtEpoch3(RunCallbacks):
        def epoch_done(self, record):
            if record.epoch == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_from_config(load_config("digits-64-50-100-10"), tmp_path, CtrlCAtEpoch3())
    [run] = list(tmp_path.iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == 3
    assert (run / "curves.png").is_file()
    assert read_arrays(run / "weights.npz")["param/0.W"].shape == (64, 50)
    with open(run / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_init_by_layer_overrides_one_layer(tmp_path):
    from dlzero_cli.config import load_config
    from dlzero_cli.data.catalog import DATASETS
    from dlzero_cli.model import Model

    def first_layers(overrides):
        config = load_config("digits-64-50-100-10", overrides).config
        model = Model.from_config(config, DATASETS.get("digits"), np.random.default_rng(0))
        params = model.network.named_params()
        return params["0.W"].std(), params["2.W"].std()

    base_first, base_second = first_layers(["model.init=std", "model.init_std=0.01"])
    he_first, he_second = first_layers(
        ["model.init=std", "model.init_std=0.01", "model.init_by_layer={1: he}"]
    )
    assert base_first == pytest.approx(0.01, rel=0.05)
    assert he_first == pytest.approx(np.sqrt(2 / 64), rel=0.05)
    assert he_second == pytest.approx(0.01, rel=0.05)
