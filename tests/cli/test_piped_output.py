"""Piped output (stdout not a terminal) never breaks a line: paths stay whole, table
titles stay on one line, whatever the width ($COLUMNS unset: rich assumes 80)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test starts dlzero in a subprocess (~2 s)


def _dlzero(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"  # a capable terminal would be used, were it one
    result = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", *args],
        capture_output=True,  # stdout is a pipe, not a terminal
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _assert_whole(output: str, path: Path) -> None:
    """Every line that starts to print `path` prints all of it."""
    head = str(path)[:40]
    lines = [line for line in output.splitlines() if head in line]
    assert lines, f"{path} is not printed at all"
    for line in lines:
        assert str(path) in line, f"broken path: {line!r}"


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> tuple[Path, Path, str]:
    """A run under a runs folder whose path is far wider than 80 columns."""
    root = tmp_path_factory.mktemp("piped")
    runs_dir = root / ("a-long-folder-name-" * 4) / ("and-deeper-still-" * 3) / "runs"
    runs_dir.mkdir(parents=True)
    trained = _dlzero("train", "xor-2-4-1", "--epochs", "2", "--runs-dir", str(runs_dir), cwd=root)
    [run] = list(runs_dir.iterdir())
    return run, root, trained


def test_train_output_keeps_paths_and_titles_whole(long_run):
    run, _, output = long_run
    assert len(str(run)) > 160
    _assert_whole(output, run)
    lines = [line.rstrip() for line in output.splitlines()]
    assert "xor-2-4-1: 2 epochs, best epoch 2 by train_loss" in lines


def test_eval_output_keeps_paths_and_titles_whole(long_run):
    run, root, _ = long_run
    output = _dlzero("eval", str(run), cwd=root)
    _assert_whole(output, run)
    for name in ("eval-xor-test.json", "confusion-xor-test.png", "misclassified-xor-test.png"):
        assert any(line.endswith(f": {run / name}") for line in output.splitlines()), name
    lines = [line.rstrip() for line in output.splitlines()]
    assert "confusion (rows: true, columns: predicted)" in lines


def test_runs_show_keeps_the_run_path_whole(long_run):
    run, root, _ = long_run
    output = _dlzero("runs", "show", "latest", "--runs-dir", str(run.parent), cwd=root)
    _assert_whole(output, run)
