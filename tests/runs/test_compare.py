"""Comparing runs: flattened config keys, the differences, a run without metrics."""

from __future__ import annotations

import json

import pytest

from dlzero_cli.errors import UsageError
from dlzero_cli.runs.compare import ABSENT, compare_runs, config_differences, flatten
from dlzero_cli.runs.folder import RunFolder


def test_flatten_makes_dotted_paths_and_keeps_lists_and_empty_mappings():
    data = {"seed": 0, "train": {"optimizer": {"lr": 0.1}, "epochs": 2},
            "model": {"layers": [{"dense": 10}], "init_by_layer": {}}}  # fmt: skip
    assert flatten(data) == {
        "seed": 0, "train.optimizer.lr": 0.1, "train.epochs": 2,
        "model.layers": [{"dense": 10}], "model.init_by_layer": {},
    }  # fmt: skip


def test_differences_include_keys_only_some_configs_have():
    a = {"seed": 0, "train": {"optimizer": {"name": "sgd", "lr": 0.1}}}
    b = {"seed": 0, "train": {"optimizer": {"name": "adam", "lr": 0.1, "beta1": 0.9}}}
    differences = {d.key: d.values for d in config_differences([a, b])}
    assert differences == {
        "train.optimizer.name": ("sgd", "adam"),
        "train.optimizer.beta1": (ABSENT, 0.9),
    }
    assert config_differences([a, a]) == ()


def test_compare_needs_two_different_runs(tmp_path):
    run = RunFolder(tmp_path / "a")
    with pytest.raises(UsageError, match="at least two runs"):
        compare_runs([run])
    with pytest.raises(UsageError, match="the same run is given twice"):
        compare_runs([run, RunFolder(tmp_path / "a")])


def test_an_imported_run_compares_without_a_curve(train_run, cli, tmp_path):
    import pickle

    import numpy as np

    trained = train_run("and-2-1", "--epochs", "20")
    weights = tmp_path / "and.pkl"
    weights.write_bytes(pickle.dumps({"W1": np.ones((2, 1)), "b1": np.zeros(1)}))
    assert cli("import", "book", str(weights), "--config", "and-2-1").exit_code == 0
    imported = cli.latest_run()
    comparison = compare_runs([RunFolder(trained), RunFolder(imported)], tmp_path / "out")
    curves = {c.run: c for c in comparison.curves}
    assert curves[imported.name].note == "no curve: imported, not trained here"
    assert len(curves[trained.name].records) == 20 and curves[trained.name].note is None
    assert comparison.plot.parent == tmp_path / "out" and comparison.plot.is_file()
    metrics = {m.name: m.values for m in comparison.metrics}
    assert metrics["status"] == ("completed", "imported")
    assert metrics["epochs"] == (20, None)
    json.dumps(comparison.to_json())  # serialisable as it is


def test_the_legend_names_what_sets_each_run_apart():
    from dlzero_cli.runs.compare import _legend_labels, config_differences

    configs = [
        {"name": "a", "seed": 0, "train": {"optimizer": {"lr": 1.0}}},
        {"name": "b", "seed": 2, "train": {"optimizer": {"lr": 0.5}}},
    ]
    labels = _legend_labels(["run-a", "run-b"], config_differences(configs))
    assert labels == ["run-a (seed=0, lr=1.0)", "run-b (seed=2, lr=0.5)"]
    assert _legend_labels(["x", "y"], ()) == ["x", "y"]
