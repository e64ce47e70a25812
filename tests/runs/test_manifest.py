"""manifest.json: every run records the hashes of its files and data, and the
environment (versions, BLAS, threads) it trained in; the summary carries what
`runs list` shows."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from dlzero_cli.config import load_config
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.lifecycle import (
    RunCallbacks,
    RunInterrupted,
    resume_run,
    train_from_config,
)
from dlzero_cli.runs.manifest import split_digest
from dlzero_cli.runs.threads import blas_threads


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blas_thread_counts() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_a_trained_run_records_its_files_data_and_environment(tmp_path):
    loaded = load_config("digits-64-50-100-10", ["train.epochs=2"])
    run = train_from_config(loaded, tmp_path, threads=1).folder.path
    manifest = json.loads((run / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "config.yaml", "metrics.csv", "weights.npz", "last.npz", "checkpoint.npz",
    }  # fmt: skip
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256(run / name)
    assert manifest["dataset"]["name"] == "digits"
    samples = json.loads((run / "summary.json").read_text())["samples"]
    assert {s: d["samples"] for s, d in manifest["dataset"]["splits"].items()} == samples
    assert manifest["versions"]["numpy"] == np.__version__
    assert manifest["threads"] == {"requested": 1, "used": 1}
    assert all(b["num_threads"] == 1 for b in manifest["blas"])
    assert {"library", "internal_api", "version", "num_threads"} <= set(manifest["blas"][0])
    assert RunFolder(run).read_manifest().environment.threads == 1


def test_the_summary_carries_the_layers_and_best_validation_accuracy(tmp_path):
    loaded = load_config("digits-64-50-100-10", ["train.epochs=3"])
    result = train_from_config(loaded, tmp_path)
    summary = json.loads((result.folder.path / "summary.json").read_text())
    assert summary["layers"] == "64-50-100-10"
    assert summary["best_val_acc"] == max(r.val_acc for r in result.history)
    assert result.folder.read_summary().outcome.best_val_acc == summary["best_val_acc"]


def test_a_layer_list_is_one_line_in_the_summary(tmp_path):
    layers = "[{conv: {filters: 2, kernel: 3}}, relu, {maxpool: 2}, {dense: 10}]"
    loaded = load_config("digits-64-50-100-10", ["train.epochs=1", f"model.layers={layers}"])
    summary = train_from_config(loaded, tmp_path).summary
    assert summary.layers == "conv(2,3)-relu-maxpool(2)-dense(10)"


def test_blas_threads_limits_inside_and_restores_after():
    before = blas_thread_counts()
    with blas_threads(1):
        assert set(blas_thread_counts()) == {1}
    assert blas_thread_counts() == before
    with blas_threads(None):
        assert blas_thread_counts() == before


def test_split_digest_covers_values_dtype_and_shape():
    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    y = np.array([0, 1, 2])
    base = split_digest(Arrays(x, y))
    assert base == split_digest(Arrays(x.copy(), y.copy())) and base.samples == 3
    changed = x.copy()
    changed[2, 3] += 1
    assert split_digest(Arrays(changed, y)).sha256 != base.sha256
    assert split_digest(Arrays(x.astype(np.int16), y)).sha256 != base.sha256
    assert split_digest(Arrays(x.reshape(3, 2, 2), y)).sha256 != base.sha256
    assert split_digest(Arrays(x[:0], y[:0])).samples == 0  # an empty split hashes too


class StopAfter(RunCallbacks):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_done(self, record):
        if record.epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupted_run_has_a_manifest_and_resume_renews_it(tmp_path):
    loaded = load_config("digits-64-50-100-10", ["train.epochs=3"])
    with pytest.raises(RunInterrupted) as stopped:
        train_from_config(loaded, tmp_path, StopAfter(1), threads=1)
    folder = stopped.value.folder
    first = json.loads(folder.manifest_path.read_text())
    assert first["files"]["weights.npz"]["sha256"] == sha256(folder.weights_path)
    resume_run(folder)  # continues with the recorded thread count
    again = json.loads(folder.manifest_path.read_text())
    assert again["threads"] == {"requested": 1, "used": 1}
    assert again["files"]["weights.npz"]["sha256"] == sha256(folder.weights_path)
    assert again["files"]["last.npz"]["sha256"] != first["files"]["last.npz"]["sha256"]
    assert again["dataset"] == first["dataset"]


def test_an_imported_run_has_a_manifest_without_dataset(cli, tmp_path):
    params = {"W1": np.ones((2, 1)), "b1": np.zeros(1)}
    weights = tmp_path / "and.pkl"
    weights.write_bytes(pickle.dumps(params))
    assert cli("import", "book", str(weights), "--config", "and-2-1").exit_code == 0
    run = cli.latest_run()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["dataset"] is None
    assert manifest["files"]["weights.npz"]["sha256"] == sha256(run / "weights.npz")
    assert json.loads((run / "summary.json").read_text())["layers"] == "2-1"
