"""`dlzero train`'s information lines are notes (`note: ...` on stderr, as every
command's are), and its interrupt exit goes through the one constant."""

from __future__ import annotations

from dlzero_cli.cli.train_cmd import _announce_numerical
from dlzero_cli.config import load_config


def test_the_numerical_gradients_cost_is_a_note(capsys):
    _announce_numerical(load_config("ch4-numerical-gradient"), None, quiet=False, threads=None)
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("note: numerical gradients: 2 x ")
    assert "forward passes per step" in line


def test_quiet_says_nothing(capsys):
    _announce_numerical(load_config("ch4-numerical-gradient"), None, quiet=True, threads=None)
    assert capsys.readouterr().err == ""
