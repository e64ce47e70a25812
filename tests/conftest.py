"""Shared fixtures: a CLI runner that keeps runs in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlzero_cli.cli import app


class Cli:
    """Invoke `dlzero ...` in-process with --runs-dir pointing at a temp folder."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, runs: bool = True):
        argv = list(args)
        if runs and argv and argv[0] in {"train", "eval", "predict"}:
            argv += ["--runs-dir", str(self.runs_dir)]
        # A wide console: tables must not wrap the words the tests look for.
        return self.runner.invoke(app, argv, catch_exceptions=False, env={"COLUMNS": "200"})

    def json(self, *args: str):
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def latest_run(self) -> Path:
        return max(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime_ns)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "runs")


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
