"""The book's pickles: a restricted unpickler, the W1/b1 mapping, and the book's numbers."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.engine.activations import Sigmoid
from dlzero_cli.engine.layers import Affine
from dlzero_cli.engine.network import Sequential
from dlzero_cli.errors import DataError
from dlzero_cli.pretrained import book_names, read_param_pickle


class Exploit:
    """Unpickling this with plain pickle would create a file: it must never run."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_dicts_of_arrays_load_under_every_protocol(tmp_path, protocol):
    params = {"W1": np.arange(6, dtype=np.float32).reshape(2, 3), "b1": np.zeros(3)}
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps(params, protocol=protocol))
    loaded = read_param_pickle(path)
    assert loaded.keys() == params.keys()
    for name in params:
        np.testing.assert_array_equal(loaded[name], params[name])
        assert loaded[name].dtype == params[name].dtype


def test_numpy_1_pickles_naming_numpy_core_load(tmp_path):
    data = pickle.dumps({"W1": np.ones((2, 2), np.float32)}, protocol=3)
    legacy = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "legacy.pkl"
    path.write_bytes(legacy)
    np.testing.assert_array_equal(read_param_pickle(path)["W1"], np.ones((2, 2)))


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_malicious_pickle_is_refused_and_nothing_runs(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": Exploit(sentinel)}, protocol=protocol))
    with pytest.raises(DataError, match=r"refused to load (posix|os)\.system"):
        read_param_pickle(path)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (pickle.dumps([1, 2, 3]), "expected a dict"),
        (pickle.dumps({"W1": "not an array"}), "expected a dict"),
        (b"not a pickle at all", "not a readable pickle"),
        (pickle.dumps({"W1": np.ones(3)})[:-10], "not a readable pickle"),
    ],
)
def test_other_contents_are_refused(tmp_path, payload, message):
    path = tmp_path / "odd.pkl"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message):
        read_param_pickle(path)


def test_book_names_number_the_layers_with_parameters():
    network = Sequential(
        [Affine.zeros(4, 3, np.float32), Sigmoid(), Affine.zeros(3, 2, np.float32)]
    )
    assert book_names(network) == {"0.W": "W1", "0.b": "b1", "2.W": "W2", "2.b": "b2"}


def test_import_checks_names_and_shapes(cli, tmp_path):
    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(pickle.dumps({"W1": np.ones((784, 50)), "b1": np.ones(50)}))
    result = cli("import", "book", str(wrong), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 1
    assert "missing W2, W3, b2, b3" in result.stderr and result.stderr.count("\n") == 1
    shapes = tmp_path / "shapes.pkl"
    params = {f"W{i}": np.ones(s) for i, s in ((1, (784, 50)), (2, (50, 100)), (3, (10, 10)))}
    params.update({f"b{i}": np.ones(n) for i, n in ((1, 50), (2, 100), (3, 10))})
    shapes.write_bytes(pickle.dumps(params))
    result = cli("import", "book", str(shapes), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 1 and "W3 has shape (10, 10)" in result.stderr
    assert not cli.runs_dir.exists() or not any(cli.runs_dir.iterdir())


def test_import_refuses_a_malicious_pickle_on_the_command_line(cli, tmp_path):
    sentinel = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"W1": Exploit(sentinel)}))
    result = cli("import", "book", str(evil), "--config", "book-ch03-sample-weight")
    assert result.exit_code == 1 and "refused to load" in result.stderr
    assert not sentinel.exists()


@pytest.mark.slow
def test_book_ch03_weights_score_the_books_0_9352(cli, tmp_path, shared_data):
    weights, mnist = shared_data("book/ch03_sample_weight.pkl", "mnist")
    data_dir = tmp_path / "data"
    assert cli("download", "mnist", "--split", "test", "--mirror", str(mnist),
               "--data-dir", str(data_dir)).exit_code == 0  # fmt: skip
    imported = cli("import", "book", str(weights),
                   "--config", "book-ch03-sample-weight")  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    run = cli.latest_run()
    assert json.loads((run / "summary.json").read_text())["status"] == "imported"
    report = cli.json("eval", "latest", "--dataset", "mnist", "--split", "test",
                      "--data-dir", str(data_dir))  # fmt: skip
    assert report["accuracy"] == 0.9352
    assert report["samples"] == 10_000
    assert (run / "eval-mnist-test.json").is_file()
    for png in ("confusion-mnist-test.png", "misclassified-mnist-test.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = cli("eval", "latest", "--data-dir", str(data_dir)).stdout
    assert "accuracy 0.9352" in text and "top-3 accuracy" in text
