"""Ctrl-C in a command without its own handling says so and exits 130; a full or closed
stdout is one line (or, for a reader that went away, silence), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_ctrl_c_during_eval_is_one_line_and_130(cli, train_run, monkeypatch):
    run = train_run("xor-2-4-1", "--epochs", "2")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("dlzero_cli.runs.reports.evaluate", interrupted)
    result = cli("eval", str(run))
    assert result.exit_code == 130
    assert result.stderr == "interrupted\n"
    assert not list(run.glob("eval-*"))


def test_a_full_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "dlzero_cli", "configs"], stdout=full,
            stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "error: cannot write the output: No space left on device\n"


def test_a_reader_that_goes_away_is_silence():
    # Like `dlzero configs | true`: the pipe is closed before dlzero writes.
    process = subprocess.Popen(
        [sys.executable, "-m", "dlzero_cli", "configs"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_piped_tables_never_wrap_a_cell_whatever_columns_says():
    env = {**os.environ, "COLUMNS": "40"}
    run = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "configs"], capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip
    rows = run.stdout.strip().splitlines()[1:]
    shipped = {p.stem for p in (Path(__file__).parents[2] / "configs").glob("*.yaml")}
    firsts = [row.split()[0] for row in rows]
    assert len(firsts) == len(shipped) and set(firsts) == shipped  # one line per config
    datasets = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "datasets"], capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip
    assert "public domain" in datasets.stdout and "1,438 / 359" in datasets.stdout
