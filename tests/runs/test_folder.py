"""RunFolder: the run folder's one home. Finding, listing, the format it records,
round trips of every file, and that nothing else opens a run file by name."""

from __future__ import annotations

import ast
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlzero_cli
from dlzero_cli.errors import RunError
from dlzero_cli.runs import folder as folder_module
from dlzero_cli.runs.documents import RUN_FORMAT, Outcome, Score, Summary
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.training import EpochRecord


def rewrite_summary(run: Path, **changes) -> None:
    path = run / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.fixture
def trained(cli) -> Path:
    assert cli("train", "and-2-1", "--epochs", "3", "-q").exit_code == 0
    return cli.latest_run()


def test_a_new_run_records_the_run_folder_format(trained):
    assert json.loads((trained / "summary.json").read_text())["format"] == RUN_FORMAT == 3


def test_summary_keys_keep_the_order_dlzero_always_wrote(trained, fixtures, cli, tmp_path):
    """Format 2 adds `format` in front and a few optional keys; the keys format 1 had
    keep their order."""
    old = json.loads((fixtures / "legacy-runs" / "legacy-cnn" / "summary.json").read_text())
    new = json.loads((trained / "summary.json").read_text())
    assert list(new)[0] == "format"
    assert [key for key in new if key in old] == list(old)
    assert set(new) - set(old) <= {"format", "layers", "best_val_acc"}
    pickle_path = tmp_path / "and.pkl"
    import pickle

    import numpy as np

    params = {"W1": np.ones((2, 1), np.float32), "b1": np.zeros(1, np.float32)}
    pickle_path.write_bytes(pickle.dumps(params))
    assert cli("import", "book", str(pickle_path), "--config", "and-2-1").exit_code == 0
    imported = json.loads((cli.latest_run() / "summary.json").read_text())
    # The order of dlzero's import before the run folder recorded its format.
    before = [
        "name", "status", "imported_from", "imported_sha256", "dataset", "parameters",
        "started_at", "finished_at", "versions",
    ]  # fmt: skip
    assert list(imported)[0] == "format"
    assert [key for key in imported if key in before] == before
    assert set(imported) - set(before) == {"format", "layers"}


@pytest.mark.parametrize(
    "args",
    [("eval", "{run}"), ("eval", "latest"), ("predict", "{run}", "1,0"),
     ("train", "--resume", "{run}")],
)  # fmt: skip
def test_a_newer_format_is_one_line_asking_for_an_upgrade(cli, trained, args):
    rewrite_summary(trained, format=RUN_FORMAT + 1, status="interrupted")
    result = cli(*(a.format(run=trained) for a in args))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {trained / 'summary.json'}: written by a newer dlzero (run format "
        f"{RUN_FORMAT + 1}; this one reads 1-{RUN_FORMAT}); upgrade dlzero\n"
    )


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", '{"name": "x"}', '{"format": "two", "name": "x"}'],
    ids=["not-json", "not-an-object", "no-status", "format-not-a-number"],
)  # fmt: skip
def test_a_corrupt_summary_is_one_line_for_resume_and_no_obstacle_to_eval(cli, trained, text):
    (trained / "summary.json").write_text(text)
    result = cli("train", "--resume", str(trained))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {trained / 'summary.json'}: unreadable (")
    # eval and predict need only the weight file, as they always did.
    assert cli("eval", str(trained)).exit_code == 0
    assert cli("predict", str(trained), "1,0").exit_code == 0


def test_all_lists_unreadable_folders_with_the_reason(tmp_path, trained):
    runs = trained.parent
    (runs / "no-summary").mkdir()
    (runs / "corrupt").mkdir()
    (runs / "corrupt" / "summary.json").write_text("{")
    (runs / "newer").mkdir()
    (runs / "newer" / "summary.json").write_text('{"format": 9, "name": "n"}')
    (runs / "a-file.txt").write_text("not a folder: not listed")
    listings = {entry.folder.name: entry for entry in RunFolder.all(runs)}
    assert set(listings) == {trained.name, "no-summary", "corrupt", "newer"}
    assert listings[trained.name].status == "completed"
    assert listings[trained.name].problem is None
    for name, reason in (("no-summary", "missing"), ("corrupt", "unreadable"),
                         ("newer", "written by a newer dlzero")):  # fmt: skip
        entry = listings[name]
        assert entry.status == "unreadable" and entry.summary is None
        assert reason in entry.problem and str(runs / name) in entry.problem


def test_a_sweep_folder_is_listed_as_a_sweep_pointing_at_its_trials(tmp_path, trained):
    import shutil

    sweep = trained.parent / "20261130T000000Z-lr-search"
    shutil.copytree(trained, sweep / "trials" / "trial-0000")
    (sweep / "sweep.json").write_text("{}")
    [entry] = [e for e in RunFolder.all(trained.parent) if e.folder.path == sweep]
    assert entry.status == "sweep" and entry.summary is None
    assert f"1 trials; list them with --runs-dir {sweep / 'trials'}" == entry.problem
    [trial] = RunFolder.all(sweep / "trials")
    assert trial.status == "completed"


def test_all_of_a_missing_runs_folder_is_empty(tmp_path):
    assert RunFolder.all(tmp_path / "nowhere") == []


def test_find_by_name_under_the_runs_folder_and_its_errors(trained):
    runs = trained.parent
    assert RunFolder.find(trained.name, runs).path == trained
    (trained / "weights.npz").unlink()
    with pytest.raises(RunError, match="not a finished run"):
        RunFolder.find(trained.name, runs)
    assert RunFolder.find(trained.name, runs, need_weights=False).path == trained
    with pytest.raises(RunError, match="no such run folder"):
        RunFolder.find("nowhere", runs)


def test_summary_round_trip(tmp_path):
    record = EpochRecord(3, 0.5, 0.75, None, None, 0.1, 0.01)
    summary = Summary(
        name="net", status="completed", started_at="2026-01-01T00:00:00+00:00", dataset="and",
        parameters=3, seed=1, samples={"train": 4, "val": 0, "test": 4},
        versions={"dlzero": "x"}, resumed_at=("2026-01-02T00:00:00+00:00",),
        resumed_from_epoch=2, finished_at="2026-01-03T00:00:00+00:00",
        outcome=Outcome(1.5, 3, 3, "train_loss", "min", False, None, record, 0.5),
        layers="2-1",
        test=Score(0.25, 1.0),
    )  # fmt: skip
    folder = RunFolder(tmp_path)
    folder.write_summary(summary)
    assert folder.read_summary() == summary
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["best_metric"] == {"name": "train_loss", "mode": "min"}
    assert data["final"]["val_loss"] is None and data["samples_per_second"] is None


def test_metrics_round_trip_keeps_every_value(tmp_path):
    records = [
        EpochRecord(1, 0.1 + 0.2, 1 / 3, None, None, 0.05, 0.001),
        EpochRecord(2, 1e-300, 0.5, 2.5, 0.25, 0.049148145657226, 1.0),
    ]
    folder = RunFolder(tmp_path)
    folder.write_metrics(records)
    assert folder.read_metrics() == records
    assert (tmp_path / "metrics.csv").read_text().splitlines()[1] == (
        "1,0.30000000000000004,0.3333333333333333,,,0.05,0.001"
    )
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,2\n")
    with pytest.raises(RunError, match=r"metrics\.csv: unreadable \(columns epoch, loss"):
        folder.read_metrics()


def test_weights_round_trip_through_the_model(trained, tmp_path):
    model = RunFolder(trained).read_model()
    copy = RunFolder(tmp_path)
    copy.write_weights(model)
    again = copy.read_model()
    assert again.architecture() == model.architecture()
    for name, array in model.network.named_params().items():
        np.testing.assert_array_equal(again.network.named_params()[name], array)


def _run_file_names() -> set[str]:
    return {
        value
        for name, value in vars(folder_module).items()
        if name.endswith("_FILE") and isinstance(value, str)
    }


def _string_literals(path: Path) -> list[str]:
    """Every string constant in a module except docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


# The data cache keeps its own manifest.json (data/<dataset>/.cache/), another file that
# shares the run manifest's name; data/store.py is its one home. The run folder's lock
# file is named by runs/staging.py, the module of partial folders and locks (folder.py
# imports the name from it, so it is in this test's list of run files).
OTHER_FILES_OF_THE_SAME_NAME = {("data/store.py", "manifest.json"), ("runs/staging.py", ".lock")}


def test_only_the_run_folder_module_names_run_files():
    package = Path(dlzero_cli.__file__).parent
    names = _run_file_names() | {"eval-", "confusion-", "misclassified-", "compare-"}
    assert {"config.yaml", "summary.json", "weights.npz", "checkpoint.npz"} <= names
    assert "manifest.json" in names
    offenders = [
        f"{path.relative_to(package)}: {text!r}"
        for path in package.rglob("*.py")
        if path != Path(folder_module.__file__)
        for text in _string_literals(path)
        if any(name in text for name in names)
        and (path.relative_to(package).as_posix(), text) not in OTHER_FILES_OF_THE_SAME_NAME
    ]
    assert offenders == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
SUMMARY_KEYS = (
    "format", "name", "status", "started_at", "seed", "samples", "resumed_at", "finished_at",
    "wall_seconds", "epochs_completed", "best_epoch", "best_metric", "stopped_early",
    "samples_per_second", "final", "error", "test", "layers", "best_val_acc",
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries({}, optional={key: JSON for key in SUMMARY_KEYS}),
        st.fixed_dictionaries(
            {
                "name": st.just("n"),
                "status": st.just("completed"),
                "started_at": st.just("t"),
                "epochs_completed": st.integers(),
            },
            optional={key: JSON for key in SUMMARY_KEYS[4:] if key != "epochs_completed"},
        ),  # fmt: skip
    )
)
def test_all_never_raises_whatever_the_summary_holds(data):
    with tempfile.TemporaryDirectory() as runs:
        run = Path(runs) / "run"
        run.mkdir()
        (run / "summary.json").write_text(json.dumps(data))
        [entry] = RunFolder.all(Path(runs))
        assert (entry.summary is None) == (entry.problem is not None)
        if entry.summary is None:
            assert entry.status == "unreadable" and str(run / "summary.json") in entry.problem
