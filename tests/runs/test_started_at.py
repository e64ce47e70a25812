"""A run's folder name and its summary's start time are the same moment (to the second),
however long setting up takes: a damaged summary's start time is read back from the
folder's name."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from dlzero_cli.runs import lifecycle, staging


def test_the_folder_name_and_started_at_are_one_moment(cli, monkeypatch):
    clock = iter(datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=s)
                 for s in range(0, 10_000, 7))  # fmt: skip
    monkeypatch.setattr(lifecycle, "utc_now", lambda: next(clock))
    monkeypatch.setattr(staging, "utc_now", lambda: next(clock))
    assert cli("train", "xor-2-4-1", "--quiet", "--epochs", "2").exit_code == 0
    [run] = cli.runs_dir.iterdir()
    started = json.loads((run / "summary.json").read_text())["started_at"]
    assert run.name[:16] == datetime.fromisoformat(started).strftime("%Y%m%dT%H%M%SZ")
