"""What `dlzero eval` leaves behind and shows: files of a limited evaluation kept apart,
results printed when its files cannot be written, progress over its batches."""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from dlzero_cli.data.datasets import Arrays
from dlzero_cli.evaluation import evaluate
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.training import EpochRecord

FULL_FILES = ("eval-digits-test.json", "confusion-digits-test.png", "misclassified-digits-test.png")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, cli_in) -> Path:
    runs_dir = tmp_path_factory.mktemp("eval-outputs") / "runs"
    cli = cli_in(runs_dir)
    result = cli("train", "digits-64-50-100-10", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.stderr
    [run] = list(runs_dir.iterdir())
    return run


@pytest.fixture
def run(digits_run, cli) -> Path:
    """A fresh copy of the trained digits run in this test's runs folder."""
    copy = cli.runs_dir / digits_run.name
    shutil.copytree(digits_run, copy)
    return copy


def _contents(run: Path, names) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in names}


def test_a_limited_eval_keeps_the_full_evaluations_files(cli, run):
    full = cli.json("eval", run.name)
    before = _contents(run, FULL_FILES)
    limited = cli.json("eval", run.name, "--limit", "30")
    assert limited["samples"] == 30 and full["samples"] == 359
    assert _contents(run, FULL_FILES) == before  # not a byte changed
    assert limited["files"] == {
        "report": str(run / "eval-digits-test-limit30.json"),
        "confusion": str(run / "confusion-digits-test-limit30.png"),
        "misclassified": str(run / "misclassified-digits-test-limit30.png"),
    }
    for path in limited["files"].values():
        assert Path(path).is_file()
    folder = RunFolder(run)
    assert folder.read_eval_report("digits", "test").samples == 359
    assert folder.read_eval_report("digits", "test", limit=30).samples == 30


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("as_json", [False, True])
def test_eval_prints_its_results_when_it_cannot_write(cli, run, monkeypatch, code, as_json):
    expected = cli.json("eval", run.name)
    before = _contents(run, FULL_FILES)

    def refuse(*args, **kwargs):
        raise OSError(code, "simulated")  # mkstemp in the run folder: full, read-only...

    # Every file dlzero writes goes through a temporary file in the target's folder.
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = cli("eval", run.name, *(["--json"] if as_json else []))
    assert result.exit_code == 0, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: ")
    for name in FULL_FILES:
        assert str(run / name) in warning
    assert "simulated" in warning
    assert _contents(run, FULL_FILES) == before  # the earlier evaluation's files stand
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    if as_json:
        data = json.loads(result.stdout)
        assert data["accuracy"] == expected["accuracy"]
        assert sorted(data["not_written"]) == sorted(str(run / n) for n in FULL_FILES)
    else:
        assert f"accuracy {expected['accuracy']:.4f}" in result.stdout
        assert "report:" not in result.stdout  # no claim of a file that was not written


def test_eval_names_only_the_file_it_could_not_write(cli, run, monkeypatch):
    import dlzero_cli.plots as plots

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plots, "plot_misclassified", full_disk)
    result = cli("eval", run.name)
    assert result.exit_code == 0
    [warning] = result.stderr.splitlines()
    assert str(run / "misclassified-digits-test.png") in warning
    assert "No space left on device" in warning
    assert "eval-digits-test.json" not in warning
    assert f"report: {run / 'eval-digits-test.json'}" in result.stdout


def test_evaluate_reports_progress_after_every_batch(run):
    folder = RunFolder(run)
    model = folder.read_model()
    rng = np.random.default_rng(0)
    data = Arrays(rng.integers(0, 17, (53, 64)).astype(np.float64), rng.integers(0, 10, 53))
    calls: list[tuple[int, int]] = []
    with_progress = evaluate(model, data, batch_size=10, progress=lambda *c: calls.append(c))
    assert calls == [(10, 53), (20, 53), (30, 53), (40, 53), (50, 53), (53, 53)]
    without = evaluate(model, data, batch_size=10)
    assert with_progress.loss == without.loss
    assert (with_progress.confusion == without.confusion).all()


def test_eval_in_a_log_prints_a_plain_line_now_and_then(capsys):
    from dlzero_cli.cli.progress import EVAL_LOG_SECONDS, PlainEvalProgress

    now = [0.0]
    progress = PlainEvalProgress(clock=lambda: now[0])
    for done in range(100, 1001, 100):  # a batch every 0.4 of the interval
        now[0] += 0.4 * EVAL_LOG_SECONDS
        progress(done, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "evaluating: 300/1,000 samples (30%)",
        "evaluating: 600/1,000 samples (60%)",
        "evaluating: 900/1,000 samples (90%)",
        "evaluating: 1,000/1,000 samples (100%)",
    ]
    quick = PlainEvalProgress(clock=lambda: 0.0)
    for done in (10, 20):
        quick(done, 20)
    assert capsys.readouterr().err == ""


def test_eval_in_a_log_keeps_stdout_to_its_json(cli, run):
    result = cli("eval", run.name, "--batch-size", "10", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["samples"] == 359
    assert result.stderr == ""  # quick: no progress lines


def test_training_bar_shows_time_left_and_keeps_a_line_per_epoch(monkeypatch):
    import dlzero_cli.cli.progress as progress

    console = Console(record=True, force_terminal=True, width=160)
    monkeypatch.setattr(progress, "stdout", console)
    display = progress.BarDisplay(batch=4)
    assert any(isinstance(c, progress.TimeRemainingColumn) for c in display.bar.columns)
    for epoch in (1, 2, 3):
        display.epoch_started(epoch, 3, 2)
        display.step_done(1, 0.5)
        display.step_done(2, 0.5)
        display.epoch_done(EpochRecord(epoch, 0.5 / epoch, 0.75, None, None, 0.1, 0.01))
    display.close()
    text = console.export_text()
    for epoch in (1, 2, 3):
        assert f"epoch {epoch}/3  train_loss {0.5 / epoch:.4f}  train_acc 0.7500" in text
