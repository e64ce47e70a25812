"""A signal while a finished run draws its figures and writes its final files waits
until they are written: the status ends right, the command exits 130, and a figure
that cannot be drawn is one recorded problem, never a traceback."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from dlzero_cli import plots


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt, whatever the process running the suite set."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def only_run(runs: Path) -> Path:
    [run] = [path for path in runs.iterdir() if not path.name.startswith(".")]
    return run


def test_ctrl_c_while_activations_are_drawn_ends_completed_and_130(cli, monkeypatch, sigint_raises):
    """As when Ctrl-C lands while matplotlib is imported for the first time: the draw
    gets the signal and then fails with matplotlib's own error."""

    def interrupted_draw(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        raise ValueError("a half-imported matplotlib")

    monkeypatch.setattr(plots, "plot_activations", interrupted_draw)
    result = cli("train", "digits-64-50-100-10", "--epochs", "2", "--quiet")
    assert result.exit_code == 130, result.stderr
    assert "Traceback" not in result.stderr
    run = only_run(cli.runs_dir)
    summary = json.loads((run / "summary.json").read_text())
    # The run completed every epoch, but one of its files could not be made.
    assert summary["status"] == "failed"
    assert "activations.png: cannot draw: ValueError" in summary["error"]
    assert (run / "curves.png").is_file()
    assert (run / "manifest.json").is_file()
    assert (run / "weights.npz").is_file()


def test_ctrl_c_while_curves_are_drawn_keeps_completed(cli, monkeypatch, sigint_raises):
    real = plots.plot_curves

    def interrupted_draw(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_curves", interrupted_draw)
    result = cli("train", "xor-2-4-1", "--epochs", "2", "--quiet")
    assert result.exit_code == 130, result.stderr
    assert "interrupted after the run completed" in result.stderr
    run = only_run(cli.runs_dir)
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert (run / "curves.png").is_file()


def test_a_keyboard_interrupt_raised_by_a_draw_ends_interrupted_and_130(
    cli, monkeypatch, sigint_raises
):
    def raising_draw(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_activations", raising_draw)
    result = cli("train", "digits-64-50-100-10", "--epochs", "2", "--quiet")
    assert result.exit_code == 130, result.stderr
    assert "Traceback" not in result.stderr
    run = only_run(cli.runs_dir)
    assert json.loads((run / "summary.json").read_text())["status"] != "running"
