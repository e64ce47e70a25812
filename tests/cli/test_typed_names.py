"""Who decides that an unknown name is a bad command line: the CLI, for the names typed
on it (exit 2); a name read from a run's own files that no registry knows is a failure
while working (exit 1), not the user's typing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlzero_cli.cli.common import typed_name
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.engine.registry import UnknownNameError
from dlzero_cli.errors import UsageError


def test_a_registry_miss_is_a_failure_while_working():
    with pytest.raises(UnknownNameError) as info:
        DATASETS.get("mnst")
    assert info.value.exit_code == 1


def test_a_typed_name_is_checked_at_the_edge():
    assert typed_name(DATASETS, "mnist") == "mnist"
    with pytest.raises(UsageError, match=r"^--dataset: unknown dataset 'mnst'.*'mnist'\?$"):
        typed_name(DATASETS, "mnst", "--dataset")


@pytest.mark.parametrize("args", [["download", "mnst"], ["eval", "RUN", "--dataset", "mnistt"]])
def test_names_typed_on_the_command_line_are_exit_2(cli, train_run, args):
    if "RUN" in args:
        args = [str(train_run("xor-2-4-1", "--epochs", "2")) if a == "RUN" else a for a in args]
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_an_unknown_dataset_in_a_runs_weights_is_exit_1(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "2")
    path = run / "weights.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    architecture = json.loads(str(arrays["architecture"]))
    architecture["dataset"] = "gone-dataset"
    arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(path, **arrays)
    result = cli("gradcheck", str(run))
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "unknown dataset 'gone-dataset'" in result.stderr
