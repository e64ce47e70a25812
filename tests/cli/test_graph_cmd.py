"""`dlzero graph`: networks and expressions from the command line, and its errors."""

from __future__ import annotations

import pytest


def test_the_apple_example_as_text(cli):
    result = cli(
        "graph", "--expr", "price = apple * count * tax", "--at", "apple=100,count=2,tax=1.1",
        "--format", "text",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  apple --100--> x[mul1]" in lines
    assert "  x[mul2] ==1.1==> x[mul1]" in lines
    assert lines[-1] == "price = 220; dprice/dapple = 2.2, dprice/dcount = 110, dprice/dtax = 200"


def test_the_chain_rule_example(cli):
    result = cli("graph", "--expr", "(x + y) ** 2", "--at", "x=1,y=2", "--format", "text")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "z = 9; dz/dx = 6, dz/dy = 6"


def test_a_config_in_every_format(cli):
    mermaid = cli("graph", "digits-64-50-100-10").stdout
    assert "graph LR" in mermaid.splitlines() and 'L0["Affine1<br/>' in mermaid
    assert cli("graph", "--format", "dot").stdout.startswith('digraph "digits-64-50-100-10')
    text = cli("graph", "--format", "text", "--samples", "32").stdout
    assert "  Affine1  (32x1x8x8 -> 32x50)" in text.splitlines()


def test_out_writes_a_file_and_nothing_else(cli, tmp_path):
    target = tmp_path / "g.mmd"
    result = cli("graph", "xor-2-4-1", "--out", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert target.read_text().splitlines()[1] == "graph LR"


def test_a_trained_run_with_backward(cli, train_run):
    train_run("digits-64-50-100-10", "--epochs", "3")
    result = cli("graph", "latest", "--backward", "--runs-dir", str(cli.runs_dir))
    assert result.exit_code == 0, result.stderr
    assert ", norm " in result.stdout and "measured on 100 samples of digits's val split" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--expr", "apple * kount", "--at", "apple=1"], 2, "unknown name 'kount'"),
        (["--expr", "open('x')"], 2, "cannot call open"),
        (["--expr", "x.y", "--at", "x=1"], 2, "an attribute is not allowed"),
        (["--expr", "log(x)", "--at", "x=-1"], 2, "log of a non-positive number"),
        (["--expr", "1 / x", "--at", "x=0"], 2, "division by zero"),
        (["--expr", "x", "--at", "x=1,x=2"], 2, "x is given twice"),
        (["--expr", "x", "--at", "x=1,y=1"], 2, "does not use y"),
        (["digits-64-50-100-10", "--expr", "x"], 2, "not both"),
        (["--at", "x=1"], 2, "use it with --expr"),
        (["--samples", "0"], 2, "--samples 0: give at least 1"),
        (["no-such-config"], 2, "no-such-config"),
        (["latest", "--runs-dir", "/nonexistent-runs"], 2, "no runs yet"),
        (["latest", "--set", "seed=1"], 2, "--set changes a CONFIG"),
    ],
)
def test_problems_are_one_error_line(cli, args, code, message):
    result = cli("graph", *args)
    assert result.exit_code == code
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line


def test_a_folder_is_a_run_never_a_config(cli, tmp_path):
    (tmp_path / "not-a-run").mkdir()
    result = cli("graph", str(tmp_path / "not-a-run"))
    assert result.exit_code == 1
    assert "not a finished run" in result.stderr and len(result.stderr.splitlines()) == 1
