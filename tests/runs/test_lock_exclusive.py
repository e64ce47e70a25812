"""The training lock is exclusive between processes that both use it (issue 12, section
4): the holder is another process running the same `RunFolder.lock`, not a stand-in."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dlzero_cli.errors import RunLocked
from dlzero_cli.runs.folder import RunFolder

HOLD = """
import sys, time
from pathlib import Path
from dlzero_cli.runs.folder import RunFolder
with RunFolder(Path(sys.argv[1])).lock():
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_cannot_take_a_held_lock_and_takes_it_once_the_holder_is_gone(
    tmp_path,
):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=rf"being trained by process {holder.pid} "):
            with RunFolder(run).lock():
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with RunFolder(run).lock():  # the kernel released the dead holder's lock
        pass
