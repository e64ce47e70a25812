"""Run folders written before the run folder recorded its format (format 1) still
evaluate, predict and resume to the numbers the old code gave."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dlzero_cli.runs.documents import RUN_FORMAT
from dlzero_cli.runs.folder import RunFolder


def rows_without_seconds(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_eval_of_the_legacy_cnn_gives_the_old_scores_and_report(cli, legacy_run):
    run = legacy_run("legacy-cnn")
    stored = json.loads((run / "eval-digits-test.json").read_text())
    assert "format" not in json.loads((run / "summary.json").read_text())
    report = cli.json("eval", str(run))
    assert report["accuracy"] == stored["accuracy"]
    assert report["loss"] == pytest.approx(stored["loss"], rel=1e-9, abs=0)
    assert report["top3_accuracy"] == stored["top3_accuracy"]
    assert report["confusion"] == stored["confusion"]
    assert list(report) == list(stored)  # the same keys, in the same order
    assert json.loads((run / "eval-digits-test.json").read_text())["run"] == str(run)


def test_predict_with_the_legacy_cnn(cli, legacy_run, tmp_path):
    from dlzero_cli.data.catalog import DATASETS

    run = legacy_run("legacy-cnn")
    test = DATASETS.get("digits").load("test")
    np.save(tmp_path / "batch.npy", test.x[:5])
    predictions = cli.json("predict", str(run), str(tmp_path / "batch.npy"), "-k", "2")
    assert len(predictions) == 5
    assert all(0 <= p["label"] <= 9 and len(p["top_k"]) == 2 for p in predictions)


def test_resuming_the_interrupted_legacy_mlp_gives_the_old_metrics(cli, legacy_run, fixtures):
    run = legacy_run("legacy-mlp-interrupted")
    before = json.loads((run / "summary.json").read_text())
    result = cli("train", "--resume", str(run), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 12
    assert summary["resumed_from_epoch"] == 5 and summary["started_at"] == before["started_at"]
    assert summary["format"] == RUN_FORMAT
    expected = rows_without_seconds(fixtures / "legacy-runs" / "legacy-mlp-resumed-metrics.csv")
    assert len(expected) == 12
    assert rows_without_seconds(run / "metrics.csv") == expected


def test_all_lists_the_legacy_runs_with_their_status(fixtures):
    listings = RunFolder.all(fixtures / "legacy-runs")
    assert {entry.folder.name: entry.status for entry in listings} == {
        "legacy-cnn": "completed",
        "legacy-mlp-interrupted": "interrupted",
    }
    assert all(entry.problem is None and entry.summary.format == 1 for entry in listings)


def test_every_file_of_a_legacy_run_reads_as_typed_records(fixtures):
    folder = RunFolder(fixtures / "legacy-runs" / "legacy-cnn")
    summary = folder.read_summary()
    assert summary.outcome.epochs_completed == 2 and summary.outcome.best_metric == "val_loss"
    assert summary.test.accuracy == pytest.approx(0.3064066852367688)
    assert [r.epoch for r in folder.read_metrics()] == [1, 2]
    assert folder.read_metrics()[-1] == summary.outcome.final
    assert folder.read_config().config.name == "legacy-cnn"
    model = folder.read_model()
    assert model.input_shape == (1, 8, 8) and len(model.class_names) == 10
    assert folder.read_model(last=True).architecture() == model.architecture()
    checkpoint = folder.read_checkpoint()
    assert checkpoint.state.epoch == 2 and len(checkpoint.state.history) == 2
    assert checkpoint.state.best is not None
    report = folder.read_eval_report("digits", "test")
    assert report.top_k == 3 and report.samples == 359
    stored = json.loads((folder.path / "eval-digits-test.json").read_text())
    assert report.to_json() == stored  # read and written back, nothing lost or renamed
