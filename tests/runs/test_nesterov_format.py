"""Run format 3: `nesterov` changed meaning (now Sutskever's, the book's is
`nesterov_book`); a run written before keeps its update rule when resumed or rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.runs.documents import RUN_FORMAT
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.formats import read_arrays
from dlzero_cli.runs.lifecycle import RunCallbacks, RunInterrupted, resume_run, train_from_config

BOOK = ["train.epochs=3", "train.optimizer.name=nesterov_book", "train.optimizer.lr=0.1"]


class StopAfter(RunCallbacks):
    def epoch_done(self, record):
        if record.epoch == 1:
            raise KeyboardInterrupt


def make_old(run: Path) -> None:
    """Turn a run into one written by a dlzero of run format 2, when `nesterov` was the
    book's variant: config.yaml says `nesterov`, the summary format 2, and the
    checkpoint does not record a run format."""
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("name: nesterov_book", "name: nesterov"))
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "format": 2}))
    arrays = read_arrays(run / "checkpoint.npz")
    meta = json.loads(str(arrays["meta"]))
    meta.pop("run_format", None)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(run / "checkpoint.npz", **arrays)


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    return train_from_config(
        load_config("xor-2-4-1", BOOK), tmp_path_factory.mktemp("w")
    ).folder.path


def test_new_runs_record_run_format_3_in_summary_and_checkpoint(whole):
    assert RUN_FORMAT == 3
    assert json.loads((whole / "summary.json").read_text())["format"] == 3
    meta = json.loads(str(read_arrays(whole / "checkpoint.npz")["meta"]))
    assert meta["run_format"] == 3
    assert RunFolder(whole).config_upgrades() == []


@pytest.mark.parametrize("summary", ["intact", "damaged"])
def test_an_older_nesterov_run_resumes_with_the_books_rule(tmp_path, whole, summary):
    with pytest.raises(RunInterrupted) as info:
        train_from_config(load_config("xor-2-4-1", BOOK), tmp_path, StopAfter())
    run = info.value.folder.path
    make_old(run)
    if summary == "damaged":  # the checkpoint alone says the run is older
        (run / "summary.json").write_text("{not json")
    folder = RunFolder(run)
    assert folder.read_config().config.train.optimizer.name == "nesterov_book"
    resume_run(folder)
    for name in ("weights.npz", "last.npz"):
        a, b = read_arrays(whole / name), read_arrays(run / name)
        for key in a:
            if key != "architecture":
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    # Written back with today's name before the run took today's format.
    assert "name: nesterov_book" in (run / "config.yaml").read_text()
    assert json.loads((run / "summary.json").read_text())["format"] == 3
    assert RunFolder(run).read_config().config.train.optimizer.name == "nesterov_book"


def test_an_older_nesterov_run_is_rerun_with_the_books_rule(tmp_path, whole):
    """`runs verify --rerun` trains `read_config()`: the book's rule, bit-identical."""
    from dlzero_cli.runs.verify import rerun_run

    run = tmp_path / whole.name
    shutil.copytree(whole, run)
    make_old(run)
    result = rerun_run(RunFolder(run))
    assert result.metrics is None
    assert [check.array for check in result.weights] == [None, None]
