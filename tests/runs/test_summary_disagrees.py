"""The checkpoint, not summary.json, says whether a run is finished: a summary edited to
`completed` while the checkpoint is mid-run does not stop `train --resume`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def set_status(run: Path, status: str) -> None:
    path = run / "summary.json"
    summary = json.loads(path.read_text())
    summary["status"] = status
    path.write_text(json.dumps(summary))


@pytest.fixture
def stopped_at_1_of_3(cli, monkeypatch) -> Path:
    """A run interrupted after its first of three epochs."""
    from dlzero_cli.cli import progress

    real = progress.make_display

    def stop_after_epoch_1(quiet, batch):
        display = real(quiet, batch)
        done = display.epoch_done

        def epoch_done(record):
            done(record)
            if record.epoch == 1:
                raise KeyboardInterrupt

        display.epoch_done = epoch_done
        return display

    monkeypatch.setattr(progress, "make_display", stop_after_epoch_1)
    result = cli("train", "xor-2-4-1", "--epochs", "3", "--quiet")
    assert result.exit_code == 130, result.stderr
    monkeypatch.undo()
    [run] = cli.runs_dir.iterdir()
    return run


def test_a_summary_that_says_completed_mid_run_is_resumed_with_a_note(cli, stopped_at_1_of_3):
    run = stopped_at_1_of_3
    set_status(run, "completed")
    result = cli("train", "--resume", str(run), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (
        f"note: {run / 'summary.json'} says 'completed', but its checkpoint is at epoch 1 "
        "of 3: resuming from the checkpoint"
    ) in result.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from_epoch"] == 1
    assert summary["epochs_completed"] == 3


def test_a_finished_run_is_still_refused(cli):
    assert cli("train", "xor-2-4-1", "--epochs", "2", "--quiet").exit_code == 0
    [run] = cli.runs_dir.iterdir()
    result = cli("train", "--resume", str(run))
    assert result.exit_code == 1 and "status is 'completed'" in result.stderr
