"""A trial's run folder travels as bytes and lands once, whole."""

from __future__ import annotations

import pytest

from dlzero_cli.errors import RunError
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.sweeps.results import SweepFolder


def test_a_run_folder_round_trips_through_its_files(tmp_path):
    source = RunFolder(tmp_path / "source")
    source.path.mkdir()
    (source.path / "summary.json").write_text("{}")
    (source.path / "weights.npz").write_bytes(b"\x00\x01")
    (source.path / ".summary.json.x.tmp").write_text("half")  # a write in progress
    files = source.files()
    assert files == {"summary.json": b"{}", "weights.npz": b"\x00\x01"}
    target = RunFolder.materialize(tmp_path / "trials" / "trial-0000", files)
    assert target is not None and target.files() == files
    assert [p.name for p in (tmp_path / "trials").iterdir()] == ["trial-0000"]


def test_a_trial_lands_once(tmp_path):
    sweep = SweepFolder(tmp_path)
    first = sweep.add_trial(3, {"summary.json": b"first"})
    assert first is not None and first.path.name == "trial-0003"
    assert sweep.add_trial(3, {"summary.json": b"second"}) is None
    assert (first.path / "summary.json").read_bytes() == b"first"
    assert [p.name for p in sweep.trials_path.iterdir()] == ["trial-0003"]


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a/b", ""])
def test_run_file_names_from_a_worker_are_plain_names(tmp_path, name):
    with pytest.raises(RunError, match="refusing a run file named"):
        RunFolder.materialize(tmp_path / "trial-0000", {name: b"x"})
    assert not (tmp_path / "trial-0000").exists()


def test_a_failed_write_leaves_no_folder(tmp_path, monkeypatch):
    import os

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", fail)
    with pytest.raises(KeyboardInterrupt):
        RunFolder.materialize(tmp_path / "trial-0000", {"summary.json": b"{}"})
    assert list(tmp_path.iterdir()) == []
