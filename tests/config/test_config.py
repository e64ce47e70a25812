"""Config validation: every mistake is one line with file, line, key and a way out."""

from __future__ import annotations

import pytest

from dlzero_cli.config import dump_config, load_config, parse_yaml
from dlzero_cli.errors import ConfigError

GOOD = """\
name: tiny
seed: 3
data:
  dataset: digits
  validation: 0.1
model:
  layers: 64-20-10
  activation: relu
  output: softmax
loss: cross_entropy
train:
  epochs: 2
  batch_size: 50
  optimizer:
    name: sgd
    lr: 0.1
"""

# (what to replace, replacement, line of the error, key path, words the message must hold)
BROKEN = [
    ("  epochs: 2", "  epoch: 2", 12, "train.epoch", ["unknown key", "did you mean 'epochs'"]),
    ("  epochs: 2", "  epochs: ten", 12, "train.epochs", ["'ten'", "valid integer"]),
    ("  epochs: 2", "  epochs: 0", 12, "train.epochs", ["got 0", "greater than or equal to 1"]),
    ("    lr: 0.1", "    lr: -0.5", 16, "train.optimizer.lr", ["-0.5", "greater than 0"]),
    (
        "  activation: relu",
        "  activation: sigmod",
        8,
        "model.activation",
        ["'sigmod'", "did you mean 'sigmoid'"],
    ),
    (
        "  activation: relu",
        "  activation: step",
        8,
        "model.activation",
        ["zero almost everywhere", "use sigmoid or relu"],
    ),
    (
        "  layers: 64-20-10",
        "  layers: 784-20-10",
        7,
        "model.layers",
        ["first size 784", "start the layers with 64"],
    ),
    ("  layers: 64-20-10", "  layers: 64-20-9", 7, "model.layers", ["last size 9", "10 classes"]),
    ("loss: cross_entropy", "loss: mse", 10, "loss", ["'mse'", "output 'softmax'"]),
    (
        "  dataset: digits",
        "  dataset: digitz",
        4,
        "data.dataset",
        ["'digitz'", "did you mean 'digits'"],
    ),
    ("  validation: 0.1", "  validation: 1.5", 5, "data.validation", ["1.5", "fraction"]),
    ("  layers: 64-20-10", "  layers: 64x20", 7, "model.layers", ["64-50-100-10"]),
    ("    name: sgd", "    name: adamm", 15, "train.optimizer.name", ["'adamm'", "sgd"]),
    ("  batch_size: 50", "  batch_size: 50.5", 13, "train.batch_size", ["50.5"]),
    ("seed: 3", "seed: 3\nseed: 4", 3, "seed", ["duplicate key"]),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "words"), BROKEN)
def test_broken_config_gives_one_line_with_file_line_and_key(
    old, new, line, key, words, write_config
):
    assert old in GOOD
    path = write_config(GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:{line}: {key}: "), message
    for word in words:
        assert word in message, message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("old", "new", "line", "key", "words"), BROKEN[:10])
def test_cli_reports_broken_config_on_one_stderr_line_with_exit_2(
    old, new, line, key, words, write_config, cli
):
    path = write_config(GOOD.replace(old, new))
    result = cli("train", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"error: {path}:{line}: {key}: ")
    assert "Traceback" not in result.stderr


def test_good_config_loads_and_fills_defaults(write_config):
    config = load_config(str(write_config(GOOD))).config
    assert config.model.layers == (64, 20, 10)
    assert config.train.sampling == "shuffle"
    assert config.train.dtype == "float32"
    assert config.model.init == "auto"


def test_resolved_config_round_trips(write_config, tmp_path):
    config = load_config(str(write_config(GOOD))).config
    again = tmp_path / "resolved.yaml"
    again.write_text(dump_config(config))
    assert load_config(str(again)).config.to_dict() == config.to_dict()


def test_malformed_yaml_names_the_line(write_config):
    path = write_config("name: x\nmodel:\n  layers: [64, 10\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: malformed YAML: ") as info:
        load_config(str(path))
    assert "\n" not in str(info.value)


def test_a_binary_file_is_malformed_yaml_not_a_crash(write_config):
    path = write_config("")
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(ConfigError, match=rf"^{path}:1: malformed YAML: unacceptable character"):
        load_config(str(path))


def test_config_must_be_a_mapping(write_config):
    with pytest.raises(ConfigError, match=r":1: the config must be a mapping"):
        load_config(str(write_config("- just\n- a list\n")))


def test_missing_required_key_points_at_its_section(write_config):
    path = write_config(GOOD.replace("  layers: 64-20-10\n", ""))
    with pytest.raises(ConfigError, match=rf"^{path}:6: model.layers: required key is missing$"):
        load_config(str(path))


def test_set_overrides_are_validated_and_located(write_config):
    path = str(write_config(GOOD))
    loaded = load_config(path, ["train.optimizer.lr=1e-3", "train.epochs=7", "seed=9"])
    assert loaded.config.train.optimizer.lr == pytest.approx(0.001)
    assert (loaded.config.train.epochs, loaded.config.seed) == (7, 9)
    with pytest.raises(
        ConfigError,
        match=r"^--set train\.epocs=3: train\.epocs: unknown key.*"
        r"did you mean 'epochs'\?$",
    ):
        load_config(path, ["train.epocs=3"])
    with pytest.raises(ConfigError, match=r"^--set train\.epochs=-1: train\.epochs: got -1"):
        load_config(path, ["train.epochs=-1"])
    with pytest.raises(ConfigError, match=r"expected key\.path=value"):
        load_config(path, ["train.epochs"])
    with pytest.raises(ConfigError, match=r"model\.layers is a value, not a section"):
        load_config(path, ["model.layers.x=1"])


def test_exponent_floats_without_a_dot_are_floats():
    data, _ = parse_yaml("lr: 1e-3\nother: 2E+2\n", "x.yaml")
    assert data == {"lr": 0.001, "other": 200.0}


def test_unknown_config_name_suggests_a_shipped_one():
    with pytest.raises(ConfigError, match=r"xor-2-4-2: no such config.*did you mean"):
        load_config("xor-2-4-2")


def test_shipped_configs_all_validate():
    from dlzero_cli.config import shipped_configs

    shipped = shipped_configs()
    assert {"digits-64-50-100-10", "and-2-1", "xor-2-1", "xor-2-4-1"} <= set(shipped)
    for name in shipped:
        assert load_config(name).config.description, f"{name} has no description"


def test_sigmoid_output_allows_one_unit_for_two_classes(write_config):
    text = GOOD.replace("digits", "xor").replace("64-20-10", "2-3-1")
    text = text.replace("output: softmax", "output: sigmoid").replace("0.1\nmodel", "0\nmodel")
    assert load_config(str(write_config(text))).config.model.layers == (2, 3, 1)


def test_a_path_into_a_folder_is_never_taken_for_a_shipped_config(tmp_path):
    missing = tmp_path / "nowhere" / "xor-2-4-1.yaml"
    with pytest.raises(ConfigError, match=r"nowhere/xor-2-4-1\.yaml: no such config file"):
        load_config(str(missing))
    assert load_config("xor-2-4-1.yaml").config.name == "xor-2-4-1"
