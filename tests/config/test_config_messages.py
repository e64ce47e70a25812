"""Config messages blame the right place and speak YAML, not Python: a --set that made a
section answers for it, a file whose section is not a mapping is blamed at its line, an
empty file says so, and no recorded error line names a Python class."""

from __future__ import annotations

import json
import re

import pytest

from dlzero_cli.config import load_config
from dlzero_cli.errors import ConfigError
from dlzero_cli.sweeps.spec import load_sweep

PYTHON_WORDS = re.compile(
    r"instance of|[A-Z][a-z]+Config\b|\bdict\b|NoneType|\bstr\b|\bint\b|\btuple\b|<class|"
    r"object at 0x|Traceback"
)


def error_of(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(str(path), list(overrides))
    return str(info.value).replace(str(path), "CONFIG")


def test_a_set_that_creates_a_section_is_blamed_for_its_defaults():
    # xor-2-4-1 has no early_stopping and validation 0: the section's default metric
    # val_loss cannot work, and only the --set brought the section in.
    with pytest.raises(ConfigError) as info:
        load_config("xor-2-4-1", ["train.early_stopping.patience=3"])
    assert str(info.value).startswith(
        "--set train.early_stopping.patience=3: train.early_stopping.metric: got 'val_loss'"
    )


def test_a_section_the_file_gives_is_blamed_on_the_file(write_config):
    path = write_config(
        "name: g\ndata: {validation: 0}\nmodel: {layers: 64-10}\n"
        "train:\n  early_stopping:\n    patience: 2\n"
    )
    assert error_of(path, ["train.early_stopping.patience=3"]).startswith(
        "CONFIG:5: train.early_stopping.metric: "
    )


def test_a_section_that_is_not_a_mapping_is_blamed_on_the_file(write_config):
    path = write_config("name: g\ntrain: 5\nmodel: {layers: 64-10}\n")
    assert error_of(path, ["train.epochs=1"]) == (
        "CONFIG:2: train: got the number 5, not a section of keys; "
        "--set train.epochs=1 needs train to be one"
    )
    without_set = error_of(path)
    assert without_set.startswith("CONFIG:2: train: got 5; write a section of keys here (epochs,")
    assert not PYTHON_WORDS.search(without_set)


def test_a_set_below_a_plain_value_is_blamed_on_the_set(write_config):
    path = write_config("name: g\nmodel: {layers: 64-10}\n")
    assert error_of(path, ["model.layers.x=1"]) == (
        "--set model.layers.x=1: model.layers is a value, not a section"
    )


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file_says_it_is_empty(write_config, text):
    path = write_config(text)
    assert error_of(path).startswith("CONFIG:1: the file is empty")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[1, 2]\n", "got a list"),
        ("just text\n", "got the text 'just text'"),
        ("42\n", "got the number 42"),
    ],
)
def test_a_config_that_is_not_a_mapping_says_what_it_is(write_config, text, words):
    message = error_of(write_config(text))
    assert message.startswith("CONFIG:1: the config must be a mapping of keys")
    assert message.endswith(words)


@pytest.mark.parametrize(
    "section",
    ["data", "model", "train", "train: {optimizer", "train: {schedule", "train: {early_stopping"],
)
def test_sections_given_a_value_name_no_python_class(write_config, section):
    closing = "}" * section.count("{")
    model = "" if section == "model" else "model: {layers: 64-10}\n"
    path = write_config(f"name: g\n{model}{section}: [1]{closing}\n")
    message = error_of(path)
    assert "write a section of keys here" in message
    assert not PYTHON_WORDS.search(message), message


def test_no_recorded_error_line_names_a_python_class(fixtures):
    cases = json.loads((fixtures / "config-errors.json").read_text(encoding="utf-8"))
    errors = {name: case["error"] or "" for name, case in cases.items()}
    named = {name: error for name, error in errors.items() if PYTHON_WORDS.search(error)}
    assert not named


@pytest.mark.parametrize(("text", "words"), [("", "an empty file"), ("[1]\n", "a list")])
def test_a_sweep_file_that_is_not_a_mapping_says_what_it_is(write_config, text, words):
    path = write_config(text, "sweep.yaml")
    with pytest.raises(ConfigError) as info:
        load_sweep(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:1: a sweep file must be a mapping of keys")
    assert message.endswith(f"got {words}") and not PYTHON_WORDS.search(message)


def test_a_set_that_fills_a_null_section_is_blamed_for_its_defaults(write_config):
    path = write_config(
        "name: g\ndata: {validation: 0}\nmodel: {layers: 64-10}\ntrain:\n  early_stopping: null\n"
    )
    assert error_of(path, ["train.early_stopping.patience=3"]).startswith(
        "--set train.early_stopping.patience=3: train.early_stopping.metric: "
    )


def test_kind_of_words_every_value_a_file_may_hold_without_class_names():
    """One kind_of for config lines and the book pickles' (pretrained imports it)."""
    import numpy as np

    from dlzero_cli.config.schema import kind_of

    assert kind_of(np.float64(0.1)) == "the number 0.1"
    assert kind_of(np.zeros((2, 3))) == "an array of shape (2, 3)"
    assert kind_of((1, 2)) == "a list" and kind_of([1]) == "a list"
    assert kind_of(b"ab") == "binary data (2 bytes)"
    assert kind_of(np.bool_(True)) == "true/false"
    assert kind_of({"a": 1}) == "a mapping"
