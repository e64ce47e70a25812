"""`dlzero compare` on real runs: differing keys, metrics, sparklines, the PNG."""

from __future__ import annotations

import json

from PIL import Image


def test_compare_two_runs_differing_in_lr_and_seed(cli, train_run):
    a = train_run("digits-64-50-100-10", "--epochs", "4")
    b = train_run("digits-64-50-100-10", "--epochs", "4", "--seed", "1",
                  "--set", "train.optimizer.lr=0.5")  # fmt: skip
    result = cli("compare", a.name, b.name)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    section = out.split("config keys that differ\n")[1].split("\n\n")[0].splitlines()
    assert section[0].split() == ["config", "key", a.name, b.name]
    assert {line.split()[0]: line.split()[1:] for line in section[1:]} == {
        "seed": ["0", "1"], "train.optimizer.lr": ["1", "0.5"],
    }  # fmt: skip
    summaries = [json.loads((run / "summary.json").read_text()) for run in (a, b)]
    metrics = {line.split("  ")[0]: line.split() for line in out.split("metrics\n")[1]
               .split("\n\n")[0].splitlines()[1:]}  # fmt: skip
    assert metrics["test accuracy"][-2:] == [f"{s['test']['accuracy']:.6g}" for s in summaries]
    sparks = [line for line in out.splitlines() if line.startswith("  20")]
    assert [line.split()[0] for line in sparks] == [a.name, b.name]
    assert all(len(line.split()[1]) == 4 and set(line.split()[1]) <= set("▁▂▃▄▅▆▇█")
               for line in sparks)  # fmt: skip
    png = cli.runs_dir / f"compare-{a.name}-vs-{b.name}.png"
    assert out.splitlines()[-1] == f"curves: {png}"
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 600


def test_compare_json_and_out(cli, train_run, tmp_path):
    a = train_run("xor-2-4-1", "--epochs", "30")
    b = train_run("xor-2-4-1", "--epochs", "30", "--seed", "2")
    data = cli.json("compare", str(a), str(b), "--out", str(tmp_path / "figures"))
    assert data["differences"] == {"seed": [0, 2]}
    assert [r["run"] for r in data["runs"]] == [a.name, b.name]
    assert data["metrics"]["epochs"] == [30, 30]
    assert data["plot"] == str(tmp_path / "figures" / f"compare-{a.name}-vs-{b.name}.png")
    assert (tmp_path / "figures" / f"compare-{a.name}-vs-{b.name}.png").is_file()


def test_compare_errors_are_one_line(cli, train_run):
    a = train_run("xor-2-4-1", "--epochs", "5")
    result = cli("compare", a.name)
    assert (result.exit_code, result.stderr) == (
        2, "error: compare needs at least two runs; give two or more RUN arguments\n",
    )  # fmt: skip
    result = cli("compare", a.name, "nowhere")
    assert result.exit_code == 2 and result.stderr.startswith("error: nowhere: no such run")
