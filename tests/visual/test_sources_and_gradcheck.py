"""CONFIG or RUN, the samples a check uses, and the gradient check's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlzero_cli.visual.gradcheck import gradcheck
from dlzero_cli.visual.sources import is_run, open_subject


def test_a_folder_or_latest_is_a_run_anything_else_a_config(tmp_path):
    runs = tmp_path / "runs"
    (runs / "20261130T000000Z-x").mkdir(parents=True)
    assert is_run("latest", runs)
    assert is_run("20261130T000000Z-x", runs)  # a name under the runs folder
    assert is_run(str(runs / "20261130T000000Z-x"), Path("elsewhere"))
    assert not is_run("digits-64-50-100-10", runs)
    assert not is_run("configs/digits-64-50-100-10.yaml", runs)


def test_without_the_dataset_on_disk_random_inputs_stand_in(tmp_path):
    subject = open_subject("fashion-mlp-adam-bn-dropout", tmp_path)
    report = gradcheck(subject, samples=2, entries=10, data_dir=tmp_path / "empty")
    assert report.samples == "2 random inputs (fashion-mnist is not on disk)"
    names = [p.book_name for p in report.parameters]
    assert names == [
        "W1", "b1", "gamma2", "beta2", "W3", "b3", "gamma4", "beta4", "W5", "b5",
    ]  # fmt: skip
    assert report.passed and not report.trained
    # A bias that feeds batch norm has a gradient of exactly 0: noise over zero gives a
    # relative error near 1, and the absolute tolerance is what passes it.
    b1 = report.parameters[1].check
    assert b1.relative_error > 0.5 and b1.max_abs_diff < 1e-8 and b1.passed


def test_the_same_seed_checks_the_same_entries():
    subject = open_subject("digits-64-50-100-10", Path("no-runs"))
    first = gradcheck(subject, samples=2, entries=7, seed=3).to_json()
    again = gradcheck(subject, samples=2, entries=7, seed=3).to_json()
    assert first == again
    assert [p["checked"] + p["kinks"] for p in first["parameters"]] == [7] * 6


@pytest.mark.parametrize(("samples", "entries"), [(0, 5), (2, 0)])
def test_nothing_to_check_is_a_usage_error(samples, entries):
    from dlzero_cli.errors import UsageError

    with pytest.raises(UsageError):
        gradcheck(open_subject("xor-2-4-1", Path("no-runs")), samples, entries)
