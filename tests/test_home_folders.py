"""`~` in DLZERO_RUNS_DIR, DLZERO_DATA_DIR, --runs-dir and --data-dir is the home folder,
never a folder named `~` in the current one."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dlzero_cli.cli import app


@pytest.mark.parametrize("how", ["environment", "options"])
def test_a_tilde_is_the_home_folder(tmp_path, monkeypatch, how):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    env = {"HOME": str(home), "DLZERO_RUNS_DIR": "", "DLZERO_DATA_DIR": ""}
    args = ["train", "xor-2-4-1", "--quiet", "--epochs", "2"]
    if how == "environment":
        env |= {"DLZERO_RUNS_DIR": "~/my-runs", "DLZERO_DATA_DIR": "~/my-data"}
    else:
        args += ["--runs-dir", "~/my-runs", "--data-dir", "~/my-data"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    [run] = (home / "my-runs").iterdir()
    assert (run / "weights.npz").is_file()
    assert list(cwd.iterdir()) == []  # no `~` folder here
    eval_args = ["eval", "latest"] + (["--runs-dir", "~/my-runs"] if how == "options" else [])
    assert CliRunner().invoke(app, eval_args, env=env).exit_code == 0
