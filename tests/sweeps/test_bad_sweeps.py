"""A bad sweep file is one line, `error: file:line: key: what; how to fix`, exit code 2,
and no run folder."""

from __future__ import annotations

import re

import pytest

from dlzero_cli.sweeps.spec import load_sweep

GOOD = """\
base: digits-64-50-100-10
name: bad
metric: val_accuracy
trials: 3
space:
  train.optimizer.lr: {loguniform: [1.0e-3, 1.0]}
"""

LR_LINE = "  train.optimizer.lr: {loguniform: [1.0e-3, 1.0]}\n"
AXIS = "[" + ", ".join(str(i) for i in range(1, 12)) + "]"

CASES = {
    "unknown key in space": (
        GOOD.replace("train.optimizer.lr", "train.optimzer.lr"),
        r"sweep\.yaml:6: train\.optimzer: unknown key; allowed here: epochs, .*"
        r"did you mean 'optimizer'\?",
    ),
    "unknown top-level key": (
        GOOD.replace("trials: 3", "trails: 3"),
        r"sweep\.yaml:4: trails: unknown key; allowed here: base, name, metric, mode, trials, "
        r"seed, space; did you mean 'trials'\?",
    ),
    "empty space": (
        GOOD.replace(LR_LINE, "").replace("space:", "space: {}"),
        r"sweep\.yaml:5: space: empty; give at least one key to search",
    ),
    "loguniform from zero": (
        GOOD.replace("1.0e-3, 1.0", "0, 1.0"),
        r"sweep\.yaml:6: space\.train\.optimizer\.lr: got \[0, 1\.0\]; loguniform bounds must "
        r"be positive",
    ),
    "loguniform upside down": (
        GOOD.replace("1.0e-3, 1.0", "1.0, 1.0e-3"),
        r"sweep\.yaml:6: space\.train\.optimizer\.lr: got \[1\.0, 0\.001\]; low must be below "
        r"high",
    ),
    "unknown distribution": (
        GOOD.replace("loguniform", "logunifrom"),
        r"sweep\.yaml:6: space\.train\.optimizer\.lr: unknown distribution 'logunifrom'; "
        r"choose one of: choice, int, loguniform, uniform; did you mean 'loguniform'\?",
    ),
    "too many grid points": (
        GOOD.replace(
            LR_LINE, f"  train.epochs: {AXIS}\n  train.batch_size: {AXIS}\n  seed: {AXIS}\n"
        ),  # fmt: skip
        r"sweep\.yaml:5: space: 1,331 trials \(a grid of 1,331 points\); at most 1,000 per "
        r"sweep",
    ),
    "a base that does not exist": (
        GOOD.replace("digits-64-50-100-10", "digits-64-50-100-11"),
        r"sweep\.yaml:1: base: got 'digits-64-50-100-11': no such config file .*did you mean "
        r"'digits-64-50-100-10'\?",
    ),
    "a metric no run records": (
        GOOD.replace("val_accuracy", "val_acc"),
        r"sweep\.yaml:3: metric: got 'val_acc'; a trial records val_accuracy, val_loss, .*"
        r"did you mean 'val_accuracy'\?",
    ),
    "a value the config refuses": (
        GOOD.replace(LR_LINE, "  train.epochs: [3, 0]\n"),
        r"sweep\.yaml:6: train\.epochs: got 0; input should be greater than or equal to 1",
    ),
    "a plain value": (
        GOOD.replace(LR_LINE, "  train.epochs: 5\n"),
        r"sweep\.yaml:6: space\.train\.epochs: got 5; give a list of values \(a grid axis\) or "
        r"a distribution",
    ),
    "validation metric without validation data": (
        GOOD.replace(LR_LINE, "  data.validation: [0, 0.1]\n"),
        r"sweep\.yaml:3: metric: got 'val_accuracy', but the base config holds out no "
        r"validation data",
    ),
    "too many random trials": (
        GOOD.replace("trials: 3", "trials: 5000"),
        r"sweep\.yaml:4: trials: got 5000; input should be less than or equal to 1000",
    ),
    "not a mapping": ("- base\n", r"sweep\.yaml:1: a sweep file must be a mapping of keys"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_sweep_file_is_one_line_exit_2_and_no_folder(cli, tmp_path, monkeypatch, case):
    text, pattern = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep.yaml").write_text(text, encoding="utf-8")
    runs = tmp_path / "runs"
    result = cli("sweep", "sweep.yaml", "--serial", "--runs-dir", str(runs))
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(rf"error: {pattern}.*", lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert not runs.exists()


def test_a_missing_sweep_file_names_the_shipped_ones(cli, tmp_path):
    result = cli("sweep", "ch6-lr-decey", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: ch6-lr-decey: no such sweep file or shipped sweep (shipped: ch6-lr-decay); "
        "did you mean 'ch6-lr-decay'?"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "4"], "is a grid search, which runs every combination"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--scheduler runs on that"),
        (["--serial", "--workers", "2"], "--serial runs in this process"),
    ],
)
def test_conflicting_options_are_refused_before_anything_runs(
    cli, write_config, tmp_path, args, message
):
    path = write_config(GOOD.replace(LR_LINE, "  train.batch_size: [16, 32]\n"), "sweep.yaml")
    result = cli("sweep", str(path), *args, "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_sweep_named_after_a_file_that_cannot_name_a_folder_is_a_config_error(
    cli, tmp_path, monkeypatch
):
    """Without `name:`, the file's name names the sweep's folder: `my sweep.yaml` gets the
    run-name rule's one line and exit 2 before anything is created."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my sweep.yaml").write_text(GOOD.replace("name: bad\n", ""), encoding="utf-8")
    runs = tmp_path / "runs"
    result = cli("sweep", "my sweep.yaml", "--serial", "--runs-dir", str(runs))
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "named after its file, 'my sweep'" in line and "add `name: ...`" in line
    assert not runs.exists()
    (tmp_path / "my sweep.yaml").write_text(GOOD, encoding="utf-8")  # `name: bad` is fine
    assert load_sweep("my sweep.yaml").name == "bad"
