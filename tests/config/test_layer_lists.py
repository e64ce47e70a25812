"""Layer-list configs: CNNs built, validated and summarised from YAML."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import ConfigError

CNN = """\
name: tiny-cnn
data: {dataset: digits, validation: 0.1}
model:
  layers:
    - conv: {filters: 4, kernel: 3, padding: 1}
    - batchnorm
    - relu
    - maxpool: 2
    - dense: 16
    - relu
    - dropout: 0.1
    - dense: 10
train: {epochs: 25, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
"""


@pytest.mark.slow
def test_a_small_cnn_trains_on_digits(cli, write_config):
    result = cli("train", str(write_config(CNN)), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((cli.latest_run() / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.9
    # The same run predicts 8x8 arrays and evaluates; the weights carry the layer list.
    report = cli.json("eval", "latest")
    assert report["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    with np.load(cli.latest_run() / "weights.npz") as weights:
        kinds = [layer["type"] for layer in json.loads(str(weights["architecture"]))["layers"]]
    assert kinds == [
        "conv",
        "batchnorm",
        "relu",
        "maxpool",
        "dense",
        "relu",
        "dropout",
        "dense",
    ]


def test_summary_prints_shapes_parameters_and_costs(cli):
    result = cli("summary", "simple-convnet-mnist")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for expected in ("100x1x28x28", "100x30x24x24", "100x30x12x12", "100x100", "100x10",
                     "780", "432,100", "433,890", "865,000"):  # fmt: skip
        assert expected in text, expected


def test_training_prints_the_network_table_unless_quiet(cli, write_config):
    loud = cli("train", "--epochs", "1")
    assert "affine 64->50" in loud.stdout and "MACs / sample" in loud.stdout
    quiet = cli("train", "--epochs", "1", "-q")
    assert "MACs / sample" not in quiet.stdout


# (entry to put in place of the first conv, line of the error, key path, words)
BROKEN_LAYERS = [
    ("- conv: {filters: 4, kernel: 9}", 5, "model.layers.0.conv.kernel", ["does not fit the 8x8"]),
    ("- conv: {filters: 4, kernal: 3}", 5, "model.layers.0.conv.kernal",
     ["unknown key", "did you mean 'kernel'"]),
    ("- conv: {filters: 0, kernel: 3}", 5, "model.layers.0.conv.filters", ["got 0"]),
    ("- convv: {filters: 4, kernel: 3}", 5, "model.layers.0", ["unknown layer 'convv'",
                                                                 "did you mean 'conv'"]),
    ("- conv: 4", 5, "model.layers.0.conv", ["takes settings"]),
    ("- {conv: {filters: 4, kernel: 3}, relu: null}", 5, "model.layers.0", ["one mapping"]),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "line", "key", "words"), BROKEN_LAYERS)
def test_layer_list_errors_name_the_layer(entry, line, key, words, write_config):
    path = write_config(CNN.replace("- conv: {filters: 4, kernel: 3, padding: 1}", entry))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:{line}: {key}: "), message
    for word in words:
        assert word in message, message


def test_shape_rules_of_layer_lists(write_config):
    dense_then_conv = CNN.replace(
        "    - maxpool: 2\n", "    - dense: 8\n    - conv: {filters: 2, kernel: 1}\n"
    )
    with pytest.raises(ConfigError, match=r":9: model\.layers\.4\.conv: conv needs image inputs"):
        load_config(str(write_config(dense_then_conv)))
    wrong_classes = CNN.replace("    - dense: 10\n", "    - dense: 7\n")
    with pytest.raises(ConfigError, match=r":12: model\.layers\.7: last size 7 .* 10 classes"):
        load_config(str(write_config(wrong_classes)))
    ends_in_relu = CNN.replace("    - dense: 10\n", "    - dense: 10\n    - relu\n")
    with pytest.raises(ConfigError, match=r"model\.layers\.8: the last layer must be"):
        load_config(str(write_config(ends_in_relu)))
    shorthand_only = CNN.replace("  layers:\n", "  dropout: 0.5\n  layers:\n")
    with pytest.raises(ConfigError, match=r"model\.dropout: applies to the 784-50-100-10"):
        load_config(str(write_config(shorthand_only)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pickle_name", "config", "accuracy"),
    [
        ("ch07_params.pkl", "book-ch07-params", 0.9600),
        ("ch08_deep_convnet_params.pkl", "book-ch08-deep-convnet", 0.9797),
    ],
)
def test_the_books_cnn_pickles_score_the_books_numbers(
    cli, tmp_path, shared_data, pickle_name, config, accuracy
):
    weights, mnist = shared_data(f"book/{pickle_name}", "mnist")
    data_dir = tmp_path / "data"
    assert cli("download", "mnist", "--split", "test", "--mirror", str(mnist),
               "--data-dir", str(data_dir)).exit_code == 0  # fmt: skip
    imported = cli("import", "book", str(weights), "--config", config)
    assert imported.exit_code == 0, imported.stderr
    report = cli.json("eval", "latest", "--dataset", "mnist", "--split", "test",
                      "--data-dir", str(data_dir), "--batch-size", "500")  # fmt: skip
    assert report["accuracy"] == pytest.approx(accuracy, abs=0.0005)
