"""Config, sweep and book-pickle messages describe values as YAML writes them or in
words (true, null, .nan, the date 2001-12-14), never as Python reprs (True, None,
datetime.date(...), b'...'); explicit tags the safe loader knows (!!binary, !!set,
!!timestamp) are refused like any other tag; keys the data holds as numbers or nulls are
found at their own line, even on a file's last line."""

from __future__ import annotations

import pickle
import re

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import ConfigError, DataError
from dlzero_cli.sweeps.spec import load_sweep

HEAD = "name: g\nmodel: {layers: 64-10}\n"
PYTHON_REPR = re.compile(
    r"\bTrue\b|\bFalse\b|\bNone\b|datetime|\bb'|\{'\w+', '\w+'\}|(?<!\.)\b(nan|inf)\b"
)


def error_of(write_config, text: str) -> str:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value).replace(str(path), "CONFIG")
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("last_line", "expected"),
    [
        ("seed: 2001-12-14", "CONFIG:3: seed: got the date 2001-12-14; "),
        (
            "seed: 2001-12-14 21:59:43",
            "CONFIG:3: seed: got the date and time 2001-12-14 21:59:43; ",
        ),
        ("seed: true", "CONFIG:3: seed: got true; "),
        ("seed: [1, true, null, .nan]", "CONFIG:3: seed: got [1, true, null, .nan]; "),
        ("description: {a: false}", "CONFIG:3: description: got {'a': false}; "),
    ],
)
def test_values_are_described_as_yaml_not_python(write_config, last_line, expected):
    for end in ("", "\n"):  # the last line, with and without its newline
        message = error_of(write_config, HEAD + last_line + end)
        assert message.startswith(expected), message
        assert not PYTHON_REPR.search(message), message


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!timestamp 2001-12-14", "!!timestamp"),
        ("!!omap [a: 1]", "!!omap"),
    ],
)
def test_explicit_tags_of_non_plain_values_are_refused_at_their_line(write_config, value, tag):
    message = error_of(write_config, HEAD + "train:\n  epochs: 2\nseed: " + value)
    assert message == (
        f"CONFIG:5: the tag {tag} is not allowed; a config holds plain values only "
        "(mappings, lists, text, numbers, true/false)"
    )


def test_plain_tags_still_read(write_config):
    message = error_of(write_config, HEAD + "seed: !!str 5")
    assert message.startswith("CONFIG:3: seed: got '5'; ")


@pytest.mark.parametrize(
    ("key", "words"),
    [("null", "not null ('null' reads"), ("~", "not null ('~' reads"), ("yes", "true/false")],
)
def test_a_null_or_boolean_key_is_refused_at_its_own_line(write_config, key, words):
    message = error_of(write_config, HEAD + "train:\n  epochs: 2\n" + key + ": 2")
    assert message.startswith("CONFIG:5: (top level): a key must be a name, "), message
    assert words in message and "None" not in message


@pytest.mark.parametrize("end", ["", "\n"])
def test_a_number_key_appended_at_the_end_is_found_at_its_line(write_config, end):
    assert error_of(write_config, HEAD + "seed: 1\n1: 2" + end).startswith("CONFIG:4: 1: ")


SWEEP_HEAD = "base: digits-64-50-100-10\nname: s\ntrials: 4\nseed: 3\nspace:\n"


@pytest.mark.parametrize(
    ("bounds", "words"),
    [
        ("[.nan, 1.0e-2]", "got [.nan, 0.01]; uniform bounds must be finite numbers"),
        ("[0, .inf]", "got [0, .inf]; uniform bounds must be finite numbers"),
    ],
)
def test_nan_and_infinite_sweep_bounds_have_their_own_message(write_config, bounds, words):
    path = write_config(SWEEP_HEAD + f"  train.optimizer.lr: {{uniform: {bounds}}}", "s.yaml")
    with pytest.raises(ConfigError) as info:
        load_sweep(str(path))
    message = str(info.value)
    assert message == f"{path}:6: space.train.optimizer.lr: {words}, not .nan or .inf"
    assert "as in" not in message


def test_swapped_sweep_bounds_suggest_the_order_in_yaml(write_config):
    path = write_config(
        SWEEP_HEAD + "  model.activation: {choice: [true, null]}\n"
        "  train.optimizer.lr: {uniform: [0.5, 0.1]}",
        "s.yaml",
    )
    with pytest.raises(ConfigError, match=r"low must be below high, as in \[0\.1, 0\.5\]$"):
        load_sweep(str(path))
    path = write_config(SWEEP_HEAD + "  train.optimizer.lr: {uniform: [true, 0.1]}", "s.yaml")
    with pytest.raises(ConfigError, match=r"got \[true, 0\.1\]; uniform takes two numbers"):
        load_sweep(str(path))


def test_an_empty_book_pickle_holds_no_arrays(cli, tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(pickle.dumps({}))
    config = tmp_path / "c.yaml"
    config.write_text(HEAD, encoding="utf-8")
    result = cli("import", "book", str(path), "--config", str(config))
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert "holds no arrays; the config's layers need W1, b1" in result.stderr


def test_a_book_pickle_key_is_described_without_a_repr(tmp_path):
    from dlzero_cli.pretrained import read_param_pickle

    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W1": None}))
    with pytest.raises(DataError, match=r"but 'W1' holds null \(no value\)$"):
        read_param_pickle(path)


def test_a_set_value_with_a_newline_stays_on_one_line(cli, write_config):
    path = write_config(HEAD)
    result = cli("check", str(path), "--set", "train.epochs=a\nb")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --set train.epochs=a\\nb: train.epochs: got 'a b'; "
        "input should be a valid integer\n"
    )
    result = cli("check", str(path), "--set", "train.epochs=[1,\n")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --set train.epochs=[1,\\n: malformed YAML: ")


@pytest.mark.parametrize("value", ["9" * 5000, "x" + "9" * 5000])
def test_a_long_set_value_is_echoed_cut_short(cli, write_config, value):
    result = cli("check", str(write_config(HEAD)), "--set", f"train.epochs={value}")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --set train.epochs=" + value[:30])
    assert len(result.stderr) < 300, len(result.stderr)
    assert "...: " in result.stderr


@pytest.mark.parametrize("name", ["a b", "a/b"])
def test_train_name_is_blamed_on_name_with_its_rule_in_words(cli, write_config, name):
    result = cli("train", str(write_config(HEAD)), "--name", name, "--quiet")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --name {name}: name: got '{name}'; a name is letters, digits, '.', '_' "
        "and '-', starting with a letter or digit (no spaces or '/'): it names the run's "
        "folder\n"
    )
    assert not (cli.runs_dir.exists() and any(cli.runs_dir.iterdir()))


def test_train_shortcut_options_are_blamed_as_typed(cli, write_config):
    result = cli("train", str(write_config(HEAD)), "--epochs", "0", "--quiet")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --epochs 0: train.epochs: got 0; ")
    result = cli("check", str(write_config(HEAD)), "--set", "name=a b")
    assert result.stderr.startswith("error: --set name=a b: name: got 'a b'; a name is ")
