"""One way to print a warning or a note (`report_warning`): `warning: ...` or `note: ...`
on stderr, one line, each distinct line once per command, whoever raised it: a
DlzeroWarning, a run's `latest` note, predict's out-of-range inputs, a training notice;
a sweep trial's come back from its worker (tests/sweeps/test_trial_warnings.py)."""

from __future__ import annotations

import warnings

import pytest
import typer

from dlzero_cli.cli import common
from dlzero_cli.errors import DlzeroWarning


def _command(*lines: str, kind: str = "warning"):
    @common.handles_errors
    def command() -> None:
        for line in lines:
            if kind == "raise":
                warnings.warn(DlzeroWarning(line), stacklevel=1)
            else:
                common.report_warning(line, kind=kind)

    return command


@pytest.mark.parametrize("kind", ["warning", "raise"])
def test_a_warning_is_one_line_once_per_command(capsys, kind):
    _command("the cache  cannot\nbe written", "other", "the cache cannot be written", kind=kind)()
    err = capsys.readouterr().err
    assert err == "warning: the cache cannot be written\nwarning: other\n"
    _command("other", kind=kind)()  # the next command says it again
    assert capsys.readouterr().err == "warning: other\n"


def test_a_note_has_its_own_prefix_and_other_kinds_are_refused(capsys):
    _command("latest: using x", kind="note")()
    assert capsys.readouterr().err == "note: latest: using x\n"
    with pytest.raises(ValueError):
        common.report_warning("x", kind="info")


def test_say_latest_and_the_training_notice_are_notes(capsys):
    from dlzero_cli.cli.progress import BarDisplay, LogDisplay

    class Folder:
        note = "latest: using b, the newest run with weights; skipped a"

    @common.handles_errors
    def command() -> None:
        common.say_latest(Folder())
        LogDisplay(10).notice("batch norm: joined")
        BarDisplay(10).notice("batch norm: joined")  # the same line: once

    command()
    assert capsys.readouterr().err == (f"note: {Folder.note}\nnote: batch norm: joined\n")


def test_an_error_still_exits_with_its_code_after_a_warning(capsys):
    from dlzero_cli.errors import DataError

    @common.handles_errors
    def command() -> None:
        common.report_warning("first")
        raise DataError("broken")

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == 1
    assert capsys.readouterr().err == "warning: first\nerror: broken\n"
