"""Running sweeps: the folder's files, the same results serially and on a LocalCluster,
diverged trials, Ctrl-C and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from dlzero_cli.config.loading import load_config
from dlzero_cli.sweeps.execution import (
    SerialExecutor,
    SweepEvents,
    SweepInterrupted,
    plan_resume,
    run_sweep,
    start_sweep,
)
from dlzero_cli.sweeps.spec import load_sweep, plan_sweep

WAIT = 60.0


@pytest.mark.slow
def test_a_serial_sweep_writes_its_folder(
    cli, make_sweep, tmp_path, sweep_rows, reference_rows, only_sweep_folder
):
    runs = tmp_path / "runs"
    result = cli("sweep", str(make_sweep()), "--serial", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    folder = only_sweep_folder(runs)
    assert folder.name.endswith("-tiny")
    names = {p.name for p in folder.iterdir()}
    assert names == {"sweep.yaml", "base.yaml", "sweep.csv", "sweep.json", "sweep.png", "trials"}
    assert (folder / "sweep.yaml").read_text() == make_sweep().read_text()
    trials = sorted(p.name for p in (folder / "trials").iterdir())
    assert trials == [f"trial-{i:04d}" for i in range(6)]
    rows = sweep_rows(folder)
    assert rows == reference_rows
    assert [r["status"] for r in rows] == ["completed"] * 6
    assert {r["model.activation"] for r in rows} == {"sigmoid", "relu"}
    assert {r["threads"] for r in rows} == {"1"}
    document = json.loads((folder / "sweep.json").read_text())
    best = max(rows, key=lambda r: (float(r["val_accuracy"]), -int(r["trial"])))
    assert document["best"]["trial"] == int(best["trial"])
    assert document["best"]["run"] == f"trials/{best['run']}"
    assert document["status"] == "completed" and document["completed"] == 6
    assert f"best: trial {best['trial']}" in result.stdout
    for label in ("sweep.csv", "sweep.json", "sweep.png"):
        assert str(folder / label) in result.stdout
    # A trial is a normal run of the base config with its values: eval reads it.
    run = folder / "trials" / best["run"]
    report = cli.json("eval", str(run))
    assert report["accuracy"] == pytest.approx(float(best["test_accuracy"]))
    config = load_config(str(run / "config.yaml")).config
    assert config.train.optimizer.lr == float(best["train.optimizer.lr"])
    assert config.model.activation == best["model.activation"]
    assert config.seed == int(best["seed"]) and config.data.limit == 300


@pytest.mark.slow
def test_a_local_cluster_of_2_workers_gives_the_serial_results(
    cli, make_sweep, tmp_path, sweep_rows, reference_rows, only_sweep_folder
):
    runs = tmp_path / "runs"
    result = cli("sweep", str(make_sweep()), "--workers", "2", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    folder = only_sweep_folder(runs)
    assert sweep_rows(folder) == reference_rows
    assert json.loads((folder / "sweep.json").read_text())["execution"].startswith(
        "LocalCluster of 2"
    )


def test_a_diverged_trial_is_recorded_and_the_sweep_goes_on(
    cli, make_sweep, tmp_path, sweep_rows, only_sweep_folder
):
    text = "base: base.yaml\nname: div\nspace:\n  train.optimizer.lr: [0.5, 1000.0, 0.1]\n"
    runs = tmp_path / "runs"
    result = cli("sweep", str(make_sweep(text)), "--serial", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    folder = only_sweep_folder(runs)
    rows = sweep_rows(folder)
    assert [r["status"] for r in rows] == ["completed", "diverged", "completed"]
    summary = json.loads((folder / "trials" / "trial-0001" / "summary.json").read_text())
    assert summary["status"] == "diverged"
    document = json.loads((folder / "sweep.json").read_text())
    assert (document["completed"], document["diverged"]) == (2, 1)
    assert document["best"]["trial"] in (0, 2)
    assert "1 diverged" in result.stdout


class StopAfter(SweepEvents):
    """Ctrl-C after `count` trials have finished."""

    def __init__(self, count: int) -> None:
        self.count = count

    def trial_done(self, result, finished, total, best) -> None:
        if finished == self.count:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_only_the_missing_trials(
    make_sweep, tmp_path, sweep_rows, reference_rows
):
    plan = plan_sweep(load_sweep(str(make_sweep())))
    folder = start_sweep(plan, tmp_path / "runs", 1, "sweep.yaml")
    with pytest.raises(SweepInterrupted) as caught:
        run_sweep(plan, folder, SerialExecutor, events=StopAfter(2))
    assert (caught.value.finished, caught.value.total) == (2, 6)
    assert json.loads(folder.json_path.read_text())["status"] == "interrupted"
    assert sweep_rows(folder.path) == reference_rows[:2]
    assert folder.plot_path.is_file()

    plan, again, _ = plan_resume(folder.path, None, None, None)
    report = run_sweep(plan, again, SerialExecutor)
    assert report.ran == 4 and len(report.results) == 6
    assert sweep_rows(folder.path) == reference_rows
    assert json.loads(folder.json_path.read_text())["status"] == "completed"
    # Nothing left: a second resume runs nothing.
    assert run_sweep(*plan_resume(folder.path, None, None, None)[:2], SerialExecutor).ran == 0


def test_resume_refuses_a_changed_sweep_file_or_other_settings(cli, make_sweep, tmp_path):
    plan = plan_sweep(load_sweep(str(make_sweep())))
    folder = start_sweep(plan, tmp_path / "runs", 1, "sweep.yaml")
    changed = make_sweep(
        make_sweep().read_text().replace("seed: 7", "seed: 8"), folder=tmp_path / "b"
    )
    result = cli("sweep", str(changed), "--resume", str(folder.path))
    assert result.exit_code == 2
    assert "differs from the sweep file" in result.stderr
    result = cli("sweep", "--resume", str(folder.path), "--threads", "2")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --threads 2: this sweep runs with --threads 1; resume with the same value or "
        "without the option"
    )
    result = cli("sweep", "--resume", str(tmp_path))
    assert result.exit_code == 1 and "not a sweep folder" in result.stderr


@pytest.mark.slow
def test_ctrl_c_stops_the_command_and_resume_completes_it(
    make_sweep, tmp_path, dlzero_process, sweep_rows, only_sweep_folder
):
    sweep = make_sweep(epochs=40)
    runs = tmp_path / "runs"
    process = dlzero_process("sweep", str(sweep), "--serial", "--runs-dir", str(runs),
                             cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + WAIT
    while not list(runs.glob("*/trials/trial-*")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no trial finished in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 130, err
    folder = only_sweep_folder(runs)
    assert f"continue with: dlzero sweep --resume {folder}" in err
    assert "Traceback" not in err
    kept = len(list((folder / "trials").iterdir()))
    assert 1 <= kept < 6
    assert json.loads((folder / "sweep.json").read_text())["status"] == "interrupted"

    resumed = subprocess.run(
        [sys.executable, "-m", "dlzero_cli", "sweep", "--resume", str(folder), "--serial"],
        cwd=tmp_path, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"{6 - kept} run now" in resumed.stdout
    rows = sweep_rows(folder)
    assert [int(r["trial"]) for r in rows] == list(range(6))
    assert len(list((folder / "trials").iterdir())) == 6


@pytest.mark.slow
def test_help_and_a_serial_sweep_import_no_dask(make_sweep, tmp_path):
    sweep = make_sweep("base: base.yaml\nspace:\n  train.optimizer.lr: [0.5]\n", epochs=1)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from dlzero_cli.cli import app\n"
        "runner = CliRunner()\n"
        "runner.invoke(app, ['sweep', '--help'])\n"
        "help_loaded = 'dask' in sys.modules or 'distributed' in sys.modules\n"
        f"result = runner.invoke(app, ['sweep', {str(sweep)!r}, '--serial', "
        f"'--runs-dir', {str(tmp_path / 'runs')!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(help_loaded, 'dask' in sys.modules or 'distributed' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=WAIT, check=True)  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


def test_a_sweep_whose_every_trial_diverged_fails_like_a_diverged_run(
    cli, make_sweep, tmp_path, only_sweep_folder
):
    text = "base: base.yaml\nname: alldiv\nspace:\n  train.optimizer.lr: [1000.0, 5000.0]\n"
    runs = tmp_path / "runs"
    result = cli("sweep", str(make_sweep(text)), "--serial", "--runs-dir", str(runs))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no trial completed: every one diverged; narrow the space (lower lr)\n"
    )
    assert (only_sweep_folder(runs) / "sweep.png").is_file()  # the files are still written


def test_run_commands_given_a_sweep_folder_point_at_its_trials(
    cli, make_sweep, tmp_path, only_sweep_folder
):
    text = "base: base.yaml\nname: tiny\nspace:\n  train.optimizer.lr: [0.5]\n"
    runs = tmp_path / "runs"
    assert cli("sweep", str(make_sweep(text)), "--serial", "--runs-dir", str(runs)).exit_code == 0
    folder = only_sweep_folder(runs)
    for args in (("eval", str(folder)), ("runs", "show", str(folder))):
        result = cli(*args)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: {folder}: a sweep's folder, not a run; its runs are in "
            f"{folder / 'trials'} (list them with: dlzero runs --runs-dir {folder / 'trials'})\n"
        )


@pytest.mark.parametrize("address", ["notaurl", "localhost:8786x", "http://127.0.0.1:1"])
def test_a_malformed_scheduler_address_is_one_line(cli, make_sweep, tmp_path, address):
    runs = tmp_path / "runs"
    result = cli("sweep", str(make_sweep()), "--scheduler", address, "--runs-dir", str(runs))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --scheduler {address}: not a scheduler address;")
    assert len(result.stderr.splitlines()) == 1
    assert not runs.exists()
