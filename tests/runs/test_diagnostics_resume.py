"""The checkpoint keeps the diagnostics rows, as it keeps the history: a diagnostics.csv
that a full disk kept from being written comes back whole when the run is resumed."""

from __future__ import annotations

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import WriteError
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.lifecycle import resume_run, train_from_config


def digits(epochs: int = 3) -> object:
    return load_config("digits-64-50-100-10", [f"train.epochs={epochs}", "data.limit=300"])


def test_diagnostics_lost_to_a_full_disk_come_back_on_resume(tmp_path, monkeypatch):
    reference = train_from_config(digits(), tmp_path / "reference").folder
    expected = reference.diagnostics_path.read_text()
    assert len(expected.splitlines()) > 1

    real = RunFolder.write_diagnostics

    def no_space_once_measured(self, rows):
        if rows:
            raise WriteError(self.diagnostics_path, OSError(28, "No space left on device"))
        real(self, rows)

    monkeypatch.setattr(RunFolder, "write_diagnostics", no_space_once_measured)
    with pytest.raises(WriteError):
        train_from_config(digits(), tmp_path / "full")
    [run] = (tmp_path / "full").iterdir()
    folder = RunFolder(run)
    assert len(folder.diagnostics_path.read_text().splitlines()) == 1  # the header only
    monkeypatch.undo()

    resumed = resume_run(folder)
    assert resumed.summary.status == "completed"
    assert folder.diagnostics_path.read_text() == expected
