"""The main user journeys through the CLI: train, eval, predict."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.runs.formats import read_arrays


def test_default_train_reaches_95_percent_on_digits(cli):
    result = cli("train")
    assert result.exit_code == 0, result.stderr
    run = cli.latest_run()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["test"]["accuracy"] >= 0.95
    assert run.name.endswith("-digits-64-50-100-10")
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100
    assert list(rows[0]) == [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    ]
    report = cli.json("eval", "latest")
    assert report["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    assert report["dataset"] == "digits" and report["split"] == "test"
    assert len(report["per_class"]) == 10
    assert sum(c["support"] for c in report["per_class"]) == report["samples"] == 359
    assert json.loads((run / "eval-digits-test.json").read_text())["accuracy"] == report["accuracy"]


@pytest.mark.parametrize(
    ("config", "lowest", "highest"),
    [("and-2-1", 1.0, 1.0), ("xor-2-1", 0.0, 0.75), ("xor-2-4-1", 1.0, 1.0)],
)
def test_logic_gates_show_why_layers_are_stacked(cli, config, lowest, highest):
    assert cli("train", config, "--quiet").exit_code == 0
    accuracy = cli.json("eval", "latest")["accuracy"]
    assert lowest <= accuracy <= highest


def test_xor_predictions_and_json_shape(cli):
    assert cli("train", "xor-2-4-1", "--quiet").exit_code == 0
    predictions = cli.json("predict", "latest", "0,0", "1,0", "0,1", "1,1", "--top-k", "2")
    assert [p["label"] for p in predictions] == [0, 1, 1, 0]
    first = predictions[0]
    assert set(first) == {"input", "label", "name", "probability", "top_k"}
    assert first["input"] == "0,0" and first["name"] == "0"
    assert [k["label"] for k in first["top_k"]] == [0, 1]
    assert sum(k["probability"] for k in first["top_k"]) == pytest.approx(1.0)


def test_predict_reads_npy_batches_and_csv_rows(cli, tmp_path):
    assert cli("train", "--epochs", "30", "--quiet").exit_code == 0
    from dlzero_cli.data.catalog import DATASETS

    test = DATASETS.get("digits").load("test")
    np.save(tmp_path / "batch.npy", test.x[:20])
    np.save(tmp_path / "one.npy", test.x[0].reshape(8, 8))
    (tmp_path / "rows.csv").write_text("\n".join(",".join(map(str, r.ravel())) for r in test.x[:3]))
    predictions = cli.json(
        "predict",
        "latest",
        str(tmp_path / "batch.npy"),
        str(tmp_path / "one.npy"),
        str(tmp_path / "rows.csv"),
        "-k",
        "3",
    )
    assert len(predictions) == 24
    assert predictions[0]["input"] == f"{tmp_path / 'batch.npy'}[0]"
    assert predictions[20]["input"] == str(tmp_path / "one.npy")
    labels = np.array([p["label"] for p in predictions[:20]])
    assert np.mean(labels == test.y[:20]) >= 0.8
    assert predictions[20]["label"] == predictions[0]["label"]
    assert all(len(p["top_k"]) == 3 for p in predictions)


def test_predict_prints_good_inputs_then_one_line_per_bad_one(cli, tmp_path):
    assert cli("train", "xor-2-4-1", "--quiet").exit_code == 0
    np.save(tmp_path / "wrong.npy", np.zeros((3, 5)))
    (tmp_path / "notes.txt").write_text("hello")
    result = cli(
        "predict",
        "latest",
        "1,0",
        str(tmp_path / "wrong.npy"),
        "missing.npy",
        str(tmp_path / "notes.txt"),
        "--json",
    )
    assert result.exit_code == 1
    assert [p["input"] for p in json.loads(result.stdout)] == ["1,0"]
    errors = result.stderr.splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert "shape (3, 5) does not fit" in errors[0]
    assert "missing.npy: no such file" in errors[1]
    assert "unsupported input type '.txt'" in errors[2]


def test_predict_refuses_pickled_npy(cli, tmp_path):
    assert cli("train", "xor-2-4-1", "--quiet").exit_code == 0
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = cli("predict", "latest", str(tmp_path / "objects.npy"))
    assert result.exit_code == 1
    assert "not a plain numeric .npy array" in result.stderr


def test_missing_run_is_one_line(cli):
    for args in (("eval", "nowhere"), ("predict", "nowhere", "1,0"), ("eval", "latest")):
        result = cli(*args)
        assert result.exit_code == 2  # a run the command line names: missing
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


def test_eval_val_split_of_a_run_without_validation(cli):
    assert cli("train", "xor-2-4-1", "--quiet").exit_code == 0
    result = cli("eval", "latest", "--split", "val")
    assert result.exit_code == 2 and "is empty" in result.stderr


def test_float64_on_request(cli):
    assert cli("train", "--set", "train.dtype=float64", "--epochs", "2", "--quiet").exit_code == 0
    weights = read_arrays(cli.latest_run() / "weights.npz")
    assert weights["param/0.W"].dtype == np.float64
    assert cli("train", "--epochs", "2", "--quiet").exit_code == 0
    assert read_arrays(cli.latest_run() / "weights.npz")["param/0.W"].dtype == np.float32


def test_plain_progress_prints_one_line_per_epoch(cli):
    result = cli("train", "--epochs", "3")
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert "run folder: " in result.stdout


@pytest.mark.slow
def test_console_script_and_module_entry_point_work_from_any_directory(tmp_path):
    env = {**os.environ, "DLZERO_RUNS_DIR": str(tmp_path / "runs")}
    for argv in (
        [sys.executable, "-m", "dlzero_cli"],
        [str(Path(sys.executable).parent / "dlzero")],
    ):
        out = subprocess.run(
            [*argv, "train", "and-2-1", "--quiet"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert "run folder: " in out.stdout
    assert len(list((tmp_path / "runs").iterdir())) == 2
    bad = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "train", "--set", "train.epochs=zero"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0


def test_configs_lists_shipped_configs(cli):
    result = cli("configs")
    assert result.exit_code == 0
    for name in ("digits-64-50-100-10", "and-2-1", "xor-2-1", "xor-2-4-1"):
        assert name in result.stdout
