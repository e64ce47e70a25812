"""Finite weights whose outputs overflow (issue 12, section 1: a result is never NaN):
`predict` and `eval` refuse with one line, and no NumPy warning reaches the terminal."""

from __future__ import annotations

import json
import pickle

import numpy as np


def book_weights(w3: float | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {1: (784, 50), 2: (50, 100), 3: (100, 10)}
    params = {f"W{i}": rng.standard_normal(s).astype(np.float32) for i, s in shapes.items()}
    params |= {f"b{i}": np.zeros(s[1], np.float32) for i, s in shapes.items()}
    if w3 is not None:  # every W3 entry `w3`: a sum of 100 of them overflows float32
        params["W3"][:] = np.float32(w3)
    return params


def test_outputs_that_overflow_are_one_line_not_nan(cli, tmp_path):
    path = tmp_path / "huge.pkl"
    path.write_bytes(pickle.dumps(book_weights(3e38)))  # finite float32 (max 3.4e38)
    imported = cli("import", "book", str(path), "-c", "book-ch03-sample-weight")
    assert imported.exit_code == 0, imported.stderr
    row = ",".join(["255"] * 784)
    result = cli("predict", "latest", row, "--json")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "overflow to inf or nan" in line, line
    assert "nan" not in result.stdout.lower() and "Warning" not in result.output


def test_ordinary_weights_still_predict(cli, tmp_path):
    path = tmp_path / "fine.pkl"
    path.write_bytes(pickle.dumps(book_weights()))
    assert cli("import", "book", str(path), "-c", "book-ch03-sample-weight").exit_code == 0
    result = cli("predict", "latest", ",".join(["255"] * 784), "--json")
    assert result.exit_code == 0, result.stderr
    [prediction] = json.loads(result.stdout)
    assert 0 <= prediction["probability"] <= 1


def test_a_weight_file_damaged_with_nan_is_refused_by_predict_and_eval(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "2")
    with np.load(run / "weights.npz") as stored:
        arrays = dict(stored)
    [first] = [k for k in arrays if k.startswith("param/")][:1]
    arrays[first] = arrays[first].copy()
    arrays[first].flat[0] = np.nan
    np.savez(run / "weights.npz", **arrays)
    for args in (("predict", str(run), "1,0", "--json"), ("eval", str(run), "--json")):
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        [line] = result.stderr.splitlines()
        assert "the weights hold NaN or infinite values" in line, line
        assert result.stdout == ""  # no "loss": NaN, which is not even JSON
