"""Commands that take a CONFIG also take a RUN (`latest`, a run's name or folder): the
config it was trained with, from its config.yaml."""

from __future__ import annotations

import pytest


@pytest.fixture
def run(train_run):
    return train_run("xor-2-4-1", "--epochs", "2", "--set", "model.layers=2-6-1")


@pytest.mark.parametrize("how", ["latest", "name", "path"])
def test_summary_of_a_run_is_its_config(cli, run, how):
    target = {"latest": "latest", "name": run.name, "path": str(run)}[how]
    result = cli("summary", target, "--runs-dir", str(cli.runs_dir))
    assert result.exit_code == 0, result.stderr
    assert "affine 2->6" in result.stdout  # the run's layers, not the shipped config's
    assert "affine 2->4" not in result.stdout


def test_summary_of_a_run_takes_set(cli, run):
    result = cli(
        "summary", "latest", "--set", "train.batch_size=7", "--runs-dir", str(cli.runs_dir)
    )
    assert result.exit_code == 0, result.stderr
    assert "batch 7" in result.stdout and "affine 2->6" in result.stdout


def test_check_of_a_run_checks_its_config(cli, run):
    result = cli("check", "latest", "--runs-dir", str(cli.runs_dir))
    assert result.exit_code == 0, result.stderr
    assert f"config: {run / 'config.yaml'}: valid" in result.stdout
    assert "affine 2->6" in result.stdout


def test_a_config_name_is_still_a_config(cli, run):
    result = cli("summary", "xor-2-4-1", "--runs-dir", str(cli.runs_dir))
    assert result.exit_code == 0, result.stderr
    assert "affine 2->4" in result.stdout


def test_latest_without_runs_is_one_line_exit_2(cli, tmp_path):
    for command in ("summary", "check"):
        result = cli(command, "latest", "--runs-dir", str(tmp_path / "none"))
        assert result.exit_code == 2
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and "no runs yet" in line
