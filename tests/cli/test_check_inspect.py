"""`dlzero inspect` (diagnostics as a table and warnings) and `dlzero check` (a dry run)."""

from __future__ import annotations

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.diagnostics import DiagnosticRow, warnings
from dlzero_cli.runs.planning import dry_run


def test_inspect_warns_of_saturated_sigmoids_and_suggests_xavier(cli, train_run):
    run = train_run(
        "digits-64-50-100-10", "--epochs", "1", "--set", "model.layers=64-100-100-100-100-10",
        "--set", "model.init=std", "--set", "model.init_std=1.0",
    )  # fmt: skip
    result = cli("inspect", str(run))
    assert result.exit_code == 0, result.stderr
    assert "layer outputs on the diagnostic batch" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("warning: ")]
    assert any(
        line.startswith("warning: layer 7 (sigmoid): ") and "% of outputs saturated" in line
        and "try `model.init: xavier`" in line
        for line in lines
    ), lines  # fmt: skip


def test_inspect_json_has_every_layer_and_the_warnings(cli, train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "2")
    document = cli.json("inspect", str(run))
    assert document["epoch"] == 2
    assert [layer["kind"] for layer in document["layers"]] == [
        "dense", "sigmoid", "dense", "sigmoid", "dense"
    ]  # fmt: skip
    assert set(document["layers"][0]["params"]) == {"W1", "b1"}
    assert document["layers"][1]["saturated"] >= 0 and isinstance(document["warnings"], list)


def test_warnings_name_dead_relus_stalled_layers_and_large_steps():
    def row(layer, kind, name, metric, value):
        return DiagnosticRow(4, layer, kind, name, metric, value)

    table = [
        row(0, "dense", "W1", "grad_ratio", 1e-6),
        row(0, "dense", "W1", "update_ratio", 1e-8),
        row(1, "relu", "out", "std", 0.3),
        row(1, "relu", "out", "dead_units", 0.4),
        row(2, "dense", "W2", "grad_ratio", 0.01),
        row(2, "dense", "W2", "update_ratio", 0.25),
        row(3, "sigmoid", "out", "saturated", 0.1),
        DiagnosticRow(3, 3, "sigmoid", "out", "saturated", 0.99),  # an earlier epoch
    ]
    assert warnings(table) == [
        "gradients of W1 are 1e-06 of W1: learning has stalled in the first layer",
        "layer 1 (relu): 40% of units never fire on the diagnostic batch; try "
        "`model.init: he` or a lower train.optimizer.lr",
        "one step changes W2 by 25% of its size: the learning rate may be too high "
        "(train.optimizer.lr)",
    ]


def test_inspect_of_a_run_without_diagnostics_says_so_in_one_line(cli, legacy_run):
    result = cli("inspect", str(legacy_run("legacy-cnn")))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "diagnostics.csv: missing" in line
    assert "recorded no diagnostics" in line


def test_check_the_default_config(cli):
    result = cli("check")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "digits-64-50-100-10.yaml: valid" in out
    assert "dataset: digits is on disk" in out
    assert "affine 64->50" in out and "9,360" in out  # the layer table
    for part in ("parameters", "optimizer state (sgd)", "activations of",
                 "the dataset (uint8 pixels, int64 labels)", "peak, about"):  # fmt: skip
        assert part in out
    assert "timed on training data" in out and "per epoch" in out and "for 100 epochs" in out


def test_check_without_the_data_says_how_to_get_it_and_times_random_inputs(cli, tmp_path):
    empty = tmp_path / "no-data"
    result = cli("check", "mnist-784-50-100-10", "--data-dir", str(empty))
    assert result.exit_code == 0, result.stderr
    assert f"get it with: dlzero download mnist --data-dir {empty}" in result.stdout
    assert "timed on random inputs" in result.stdout
    assert "54,000 train / 6,000 validation / 10,000 test" in result.stdout
    assert "52.9 MB" in result.stdout  # 70,000 x (784 + 8) bytes


def test_check_reports_every_config_problem_and_exits_2(cli, write_config):
    path = write_config(
        "name: bad\nmodel:\n  layers: 64-50-10\ntrain:\n  epochs: 0\n  gradient: nope\n"
    )
    result = cli("check", str(path))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {path}:") for line in lines)
    assert any("train.epochs" in line for line in lines)
    assert any("train.gradient" in line for line in lines)


def test_check_says_when_numerical_training_would_be_refused(cli):
    result = cli("check", "ch4-numerical-gradient", "--set", "train.numerical_limit_seconds=0.01")
    assert result.exit_code == 0, result.stderr
    assert "forward passes per step" in result.stdout
    assert "(exceeded: `dlzero train` will refuse)" in result.stdout


def test_dry_run_estimates_add_up():
    result = dry_run(load_config(None, ["train.epochs=7"]))
    assert result.steps_per_epoch == -(-result.samples["train"] // 32)
    assert result.step_seconds > 0 and result.epoch_seconds >= result.step_seconds
    assert result.run_seconds == pytest.approx(7 * result.epoch_seconds)
    assert result.peak_bytes == sum(part.bytes for part in result.memory)
    params = 9360 * 4
    assert [p.bytes for p in result.memory[:2]] == [params, params]
    momentum = dry_run(load_config(None, ["train.optimizer.name=momentum"]))
    assert momentum.memory[3].name == "optimizer state (momentum)"
    assert momentum.memory[3].bytes >= params  # its velocity


def test_check_changes_nothing_on_disk(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("check").exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == []


def test_inspect_before_any_measured_epoch_says_so(cli, train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "1")
    (run / "diagnostics.csv").write_text("epoch,layer,kind,name,metric,value\n")
    result = cli("inspect", str(run))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {run / 'diagnostics.csv'}: no epoch measured yet (none completed)"
    ]


def test_inspect_of_a_damaged_diagnostics_file_is_one_line(cli, train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "1")
    (run / "diagnostics.csv").write_text("epoch,value\n1,2\n")
    result = cli("inspect", str(run))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {run / 'diagnostics.csv'}: unreadable (columns epoch, value")


def test_dry_run_counts_the_batch_norm_merge_of_a_lone_last_sample():
    """With batch norm, a shuffled epoch's leftover single sample joins the batch before
    it (training never updates batch norm from one sample): check's step count agrees."""
    n = dry_run(load_config(None, ["train.epochs=1"])).samples["train"]
    lone = [f"train.batch_size={n - 1}", "train.epochs=1"]
    assert dry_run(load_config(None, lone)).steps_per_epoch == 2
    assert dry_run(load_config(None, [*lone, "model.batch_norm=true"])).steps_per_epoch == 1
