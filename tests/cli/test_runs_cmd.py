"""`dlzero runs [list|show|verify]` on real small runs, unreadable and running ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.runs.formats import read_arrays


@pytest.fixture(scope="module")
def three_runs_once(tmp_path_factory, cli_in) -> dict[str, Path]:
    """Two digits runs (seeds 0 and 1, 2 and 3 epochs) and a xor run, trained once."""
    cli = cli_in(tmp_path_factory.mktemp("three") / "runs")
    runs = {}
    for key, args in (
        ("digits-a", ("digits-64-50-100-10", "--epochs", "2", "--name", "digits-a")),
        ("digits-b", ("digits-64-50-100-10", "--epochs", "3", "--seed", "1", "--name",
                      "digits-b")),
        ("xor", ("xor-2-4-1", "--epochs", "50")),
    ):  # fmt: skip
        assert cli("train", *args, "--quiet").exit_code == 0
        runs[key] = cli.latest_run()
    return runs


@pytest.fixture
def three_runs(cli, three_runs_once) -> dict[str, Path]:
    """A copy of the three runs in this test's runs folder, safe to change."""
    shutil.copytree(next(iter(three_runs_once.values())).parent, cli.runs_dir)
    return {key: cli.runs_dir / run.name for key, run in three_runs_once.items()}


def summary_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_runs_alone_lists_one_row_per_run_with_its_numbers(cli, three_runs):
    result = cli("runs")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "started", "status", "dataset", "layers", "epochs",
                                "best", "val", "acc", "test", "acc", "wall"]  # fmt: skip
    assert len(lines) == 4
    by_run = {line.split()[0]: line.split() for line in lines[1:]}
    b = three_runs["digits-b"]
    row = by_run[b.name]
    assert row[3:7] == ["completed", "digits", "64-50-100-10", "3"]
    summary = summary_of(b)
    assert row[7] == f"{summary['best_val_acc']:.4f}"
    assert row[8] == f"{summary['test']['accuracy']:.4f}"
    assert cli("runs", "list").stdout == result.stdout


def test_list_json_parses_and_holds_every_field(cli, three_runs):
    rows = cli.json("runs", "list")
    assert [r["run"] for r in rows] == [p.name for p in three_runs.values()]  # oldest first
    xor = rows[2]
    assert xor["dataset"] == "xor" and xor["layers"] == "2-4-1" and xor["epochs"] == 50
    assert xor["test_acc"] == summary_of(three_runs["xor"])["test"]["accuracy"]
    assert xor["status"] == "completed" and xor["problem"] is None


def test_filters_and_sort(cli, three_runs):
    def runs(*args):
        return [r["run"] for r in cli.json("runs", "list", *args)]

    a, b, xor = (three_runs[k].name for k in ("digits-a", "digits-b", "xor"))
    assert runs("--dataset", "digits") == [a, b]
    assert runs("--name", "*xor*") == [xor]
    assert runs("--name", "digits-?") == [a, b]  # the config's name matches too
    assert runs("--status", "diverged") == []
    assert runs("--sort", "epochs") == [a, b, xor]
    assert runs("--sort", "epochs", "--reverse") == [xor, b, a]
    accuracies = [r["test_acc"] for r in cli.json("runs", "list", "--sort", "test_acc")]
    assert accuracies == sorted(accuracies, reverse=True)  # best first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sort", "test_ac"), "error: --sort: unknown key 'test_ac'; choose one of name, "
         "started, status, dataset, layers, epochs, best_val_acc, test_acc, wall; did you "
         "mean 'test_acc'?"),
        (("--status", "complete"), "error: --status: unknown status 'complete'; choose one of "
         "completed, interrupted, diverged, failed, imported, running, stopped, unreadable, sweep; "
         "did you mean 'completed'?"),
    ],
)  # fmt: skip
def test_a_bad_sort_key_or_status_is_one_line(cli, args, message):
    result = cli("runs", "list", *args)
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


def test_the_help_names_every_sort_key_and_status(cli):
    from dlzero_cli.runs.listing import SORT_KEYS, STATUSES

    text = " ".join(cli("runs", "list", "--help", runs=False).stdout.split())
    for word in (*SORT_KEYS, *STATUSES):
        assert word in text


def test_unreadable_and_running_folders_are_rows_not_tracebacks(cli, three_runs):
    runs = cli.runs_dir
    (runs / "no-summary").mkdir()
    (runs / "corrupt").mkdir()
    (runs / "corrupt" / "summary.json").write_text('{"name": ')
    running = three_runs["digits-a"]
    summary = summary_of(running)
    summary["status"] = "running"
    for key in ("outcome", "test", "final", "epochs_completed", "finished_at"):
        summary.pop(key, None)
    (running / "summary.json").write_text(json.dumps(summary))
    result = cli("runs")
    assert result.exit_code == 0 and "Traceback" not in result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert len(lines) == 5
    assert "unreadable" in lines["no-summary"] and "summary.json: missing" in lines["no-summary"]
    assert "unreadable" in lines["corrupt"] and "summary.json: unreadable (" in lines["corrupt"]
    assert lines[running.name].split()[3] == "running"
    rows = {r["run"]: r for r in cli.json("runs", "list", "--status", "unreadable")}
    assert set(rows) == {"no-summary", "corrupt"}
    assert "missing" in rows["no-summary"]["problem"]
    [row] = cli.json("runs", "list", "--status", "running")
    assert row["run"] == running.name and row["test_acc"] is None


def test_a_running_run_whose_process_is_gone_is_stopped(cli, three_runs):
    """`running` only while its training process lives: the lock file names the holder;
    a killed trainer leaves `running` in summary.json, which the listing corrects."""
    run = three_runs["digits-a"]
    summary = summary_of(run)
    summary["status"] = "running"
    (run / "summary.json").write_text(json.dumps(summary))
    holder = json.loads((run / ".lock").read_text())
    assert holder["pid"] == os.getpid()  # trained in-process: this process is alive
    assert cli.json("runs", "list", "--status", "running")[0]["run"] == run.name
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    holder["pid"] = int(gone.stdout)  # a process that has exited
    (run / ".lock").write_text(json.dumps(holder))
    [row] = cli.json("runs", "list", "--status", "stopped")
    assert row["run"] == run.name
    assert cli.json("runs", "list", "--status", "running") == []
    holder["host"] = "another-machine"  # cannot tell from here: still running
    (run / ".lock").write_text(json.dumps(holder))
    assert cli.json("runs", "list", "--status", "running")[0]["run"] == run.name


def test_an_empty_runs_folder_says_so(cli):
    result = cli("runs")
    assert result.exit_code == 0 and "no runs in" in result.stdout
    assert cli.json("runs", "list") == []


def test_options_before_a_subcommand_are_refused(cli, three_runs):
    result = cli("runs", "--json", "show", "latest", runs=False)
    assert result.exit_code == 2
    assert result.stderr == "error: options go after the command: dlzero runs show [OPTIONS]\n"


# --------------------------------------------------------------------------- show


def test_show_prints_summary_config_and_last_epochs(cli, three_runs):
    run = three_runs["digits-b"]
    result = cli("runs", "show", run.name, "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert str(run) in out and "completed" in out and "64-50-100-10" in out
    assert "config (resolved):" in out and "  optimizer:\n    name: sgd" in out
    assert "metrics: last 2 of 3 epochs" in out
    table = out.split("metrics: last 2 of 3 epochs\n")[1].splitlines()
    assert table[0].split()[:3] == ["epoch", "train_loss", "train_acc"]
    assert [line.split()[0] for line in table[1:3]] == ["2", "3"]


def test_show_json(cli, three_runs):
    run = three_runs["xor"]
    shown = cli.json("runs", "show", str(run), "--epochs", "5")
    assert shown["status"] == "completed" and shown["config"]["model"]["layers"] == "2-4-1"
    assert shown["epochs_total"] == 50 and [m["epoch"] for m in shown["metrics"]] == [
        46, 47, 48, 49, 50,
    ]  # fmt: skip
    assert shown["manifest"]["dataset"]["name"] == "xor"
    assert shown["summary"]["test"] == summary_of(run)["test"]


def test_show_a_legacy_run(cli, legacy_run):
    run = legacy_run("legacy-cnn")
    result = cli("runs", "show", str(run))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "manifest      none (trained before runs recorded one)" in lines
    assert "layers        -  (670 parameters)" in lines  # summaries before the field
    assert "metrics: last 2 of 2 epochs" in lines


# --------------------------------------------------------------------------- verify


def test_verify_a_fresh_run(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "20")
    result = cli("runs", "verify", run.name)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ok      weights.npz" in lines and "ok      config.yaml" in lines
    assert lines[-1] == "files: all 5 match the manifest"


def test_verify_names_an_edited_and_a_missing_file(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "20")
    data = bytearray((run / "weights.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (run / "weights.npz").write_bytes(bytes(data))
    (run / "checkpoint.npz").unlink()
    result = cli("runs", "verify", str(run))
    assert result.exit_code == 1
    out = result.stdout
    assert "differs weights.npz  (recorded sha256 " in out
    assert "missing checkpoint.npz  (recorded, now missing)" in out
    assert "ok      last.npz" in out
    assert out.splitlines()[-1] == "files: weights.npz, checkpoint.npz do not match the manifest"


def test_verify_a_run_without_manifest_is_one_line(cli, legacy_run):
    run = legacy_run("legacy-cnn")
    result = cli("runs", "verify", str(run))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"error: {run}: no manifest.json (trained before runs recorded one); nothing to "
        "verify: train its config.yaml again for a run that has one\n"
    )


def test_verify_rerun_is_bit_identical_on_a_digits_run(cli, train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "3", "--threads", "1")
    result = cli("runs", "verify", run.name, "--rerun")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "environment: as recorded (" in out and ", 1 thread)" in out
    assert "dataset: the same arrays as recorded" in out
    assert "metrics: identical over 3 epochs (seconds aside)" in out
    assert "weights.npz: identical (" in out and "last.npz: identical (" in out
    assert out.splitlines()[-1] == "rerun: bit-identical"
    assert result.stderr == f"rerunning {run.name} with 1 thread of BLAS ...\n"


def test_verify_rerun_names_a_changed_parameter(cli, train_run):
    run = train_run("digits-64-50-100-10", "--epochs", "2")
    arrays = read_arrays(run / "weights.npz")
    arrays["param/2.b"] = arrays["param/2.b"] + np.float32(1e-3)
    with open(run / "weights.npz", "wb") as f:
        np.savez(f, **arrays)
    np.load(run / "weights.npz", allow_pickle=False).close()  # still a plain .npz
    result = cli("runs", "verify", run.name, "--rerun")
    assert result.exit_code == 1
    out = result.stdout
    assert "differs weights.npz" in out
    assert "weights.npz: first differing array param/2.b (values differ, max abs difference " in (
        out
    )
    assert "last.npz: identical (" in out and "metrics: identical" in out
    assert out.splitlines()[-1] == "rerun: differs"


def test_verify_rerun_names_the_first_differing_epoch(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "5")
    lines = (run / "metrics.csv").read_text().splitlines()
    cells = lines[3].split(",")
    cells[1] = repr(float(cells[1]) + 1e-9)  # epoch 3's train_loss
    lines[3] = ",".join(cells)
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    result = cli("runs", "verify", run.name, "--rerun")
    assert result.exit_code == 1
    assert "differs metrics.csv" in result.stdout
    assert "metrics: first difference at epoch 3, train_loss: recorded " in result.stdout


def test_verify_rerun_keeps_its_folder_when_asked(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "5")
    result = cli("runs", "verify", run.name, "--rerun", "--keep")
    assert result.exit_code == 0, result.stdout
    [kept] = [line for line in result.stdout.splitlines() if line.startswith("rerun kept in ")]
    folder = Path(kept.removeprefix("rerun kept in "))
    assert folder.is_dir() and not folder.is_relative_to(cli.runs_dir)
    assert [p.name for p in cli.runs_dir.iterdir()] == [run.name]
    shutil.rmtree(folder)


def test_a_terminal_gets_a_rich_table_up_to_a_screenful_then_columns(cli, three_runs):
    from rich.table import Table

    from dlzero_cli.cli.runs_cmd import RICH_ROWS, listing_renderable
    from dlzero_cli.runs.listing import list_runs

    rows = list_runs(cli.runs_dir)
    assert isinstance(listing_renderable(rows, terminal=True), Table)
    assert isinstance(listing_renderable(rows, terminal=False), str)
    many = rows * (RICH_ROWS // len(rows) + 1)
    text = listing_renderable(many, terminal=True)
    assert isinstance(text, str) and len(text.splitlines()) == len(many) + 1
