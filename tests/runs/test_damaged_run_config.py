"""A run's own config.yaml, damaged, is a failure while working (exit 1) for every
command that reads it, not a bad command line (exit 2)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("command", ["eval", "graph", "gradcheck", "summary", "check"])
def test_a_damaged_config_yaml_in_a_run_is_exit_1(cli, train_run, command):
    run = train_run("xor-2-4-1", "--epochs", "2")
    (run / "config.yaml").write_text("model: [\n")
    result = cli(command, str(run))
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {run / 'config.yaml'}:2: malformed YAML"), line
