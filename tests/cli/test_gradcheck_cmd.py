"""`dlzero gradcheck`: tables, JSON, exit codes; every shipped config passes and a
wrong backward fails."""

from __future__ import annotations

import json

import pytest

from dlzero_cli.config import shipped_configs
from dlzero_cli.engine.activations import Sigmoid


def test_the_default_config_passes(cli):
    result = cli("gradcheck")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("digits-64-50-100-10 (fresh weights), float64, on 3 samples")
    assert lines[1].split() == [
        "param", "shape", "checked", "kinks", "max", "|diff|", "rel.", "error", "result",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[2:8]}
    assert list(rows) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert rows["W1"][2] == "200/3200" and rows["b1"][2] == "50/50"
    assert all(row[-1] == "pass" for row in rows.values())
    assert lines[-1].startswith("all parameters pass")


def test_json_is_one_document(cli):
    report = cli.json("gradcheck", "xor-2-4-1", "--all")
    assert report["passed"] and report["failed"] == [] and report["trained"] is False
    assert report["entries_per_parameter"] is None
    assert [p["name"] for p in report["parameters"]] == ["W1", "b1", "W2", "b2"]
    assert all(p["checked"] + p["kinks"] == p["size"] for p in report["parameters"])
    assert report["tolerance"] == 1e-5


def test_a_trained_run(cli, train_run):
    train_run("xor-2-4-1", "--epochs", "20")
    result = cli("gradcheck", "latest", "--json", "--runs-dir", str(cli.runs_dir))
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["trained"] is True and report["passed"]


def test_a_wrong_backward_fails_with_exit_1(cli, monkeypatch):
    """Sigmoid's derivative y(1 - y) replaced by y: everything behind a sigmoid fails."""
    monkeypatch.setattr(Sigmoid, "backward", lambda self, dout: dout * self._out)
    result = cli("gradcheck")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: gradient check failed for W1, b1, W2, b2: backprop and central differences "
        "disagree\n"
    )
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[2:8]}
    assert rows == {"W1": "FAIL", "b1": "FAIL", "W2": "FAIL", "b2": "FAIL", "W3": "pass",
                    "b3": "pass"}  # fmt: skip
    report = json.loads(cli("gradcheck", "--json").stdout)
    assert report["failed"] == ["W1", "b1", "W2", "b2"] and not report["passed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "0"], "--samples 0: give at least 1"),
        (["--entries", "0"], "--entries 0: give at least 1"),
        (["no-such-config"], "no-such-config"),
    ],
)
def test_problems_are_one_error_line(cli, args, message):
    result = cli("gradcheck", *args)
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(shipped_configs()))
def test_every_shipped_config_passes(cli, config):
    result = cli("gradcheck", config, "--samples", "2", "--entries", "20", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and len(report["parameters"]) >= 2
