"""Property: every shipped config and sweep file, mutated, loads or fails as config
errors: one `file:line: ...` line per problem, never another exception, never a hang.

Mutations: deleted keys, values swapped for other types (huge and negative integers,
NaN, infinity, unicode text, lists, mappings, deep lists, huge networks), unknown keys,
and text-level edits: aliases (small, and nested "billion laughs" bombs), deep flow
nesting, integers of thousands of digits, unicode inserted anywhere.

Examples: 300 config mutations and 60 sweep mutations in-process (load, validate,
memory check), 30 config mutations through the real CLI (`dlzero summary` in-process
via Typer's runner, exit 0 or 2 and one `error:` line each), the same ones on every
run; no deadline, a 30-second hang guard per example (see fuzz); the file runs in about
4 s (2 cores, shared).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from dlzero_cli.config import load_config, parse_yaml, shipped_configs
from dlzero_cli.config.loading import shipped_sweeps
from dlzero_cli.errors import ConfigError
from dlzero_cli.sweeps.spec import generate_trials, load_sweep, trial_config

CONFIGS = shipped_configs()
SWEEPS = shipped_sweeps()


def original(path: Path) -> Any:
    return parse_yaml(path.read_text(encoding="utf-8"), str(path))[0]


def key_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += key_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += key_paths(value, (*prefix, index))
    return found


def parent_and_key(data: Any, path: tuple) -> tuple[Any, Any]:
    for part in path[:-1]:
        data = data[part]
    return data, path[-1]


SENTINEL = "__FUZZ_TEXT__"

weird_values = st.one_of(
    st.integers(-(10**30), 10**30),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 10**9), max_size=5),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 2), max_size=3),
    st.sampled_from(["64-100000000-10", "784-3000000-10", "2-4-1", "0-1", "relu", "adam"]),
    st.recursive(st.integers(0, 9), lambda inner: st.lists(inner, max_size=2), max_leaves=40),
)

text_edits = st.one_of(
    st.tuples(st.just("bomb"), st.integers(1, 9), st.integers(2, 9)),
    st.tuples(st.just("deep"), st.integers(1, 300)),
    st.tuples(st.just("digits"), st.integers(1, 6000)),
    st.tuples(st.just("alias"), st.just(0)),
    st.tuples(st.just("unicode"), st.text(min_size=1, max_size=8)),
)


@st.composite
def mutated(draw, paths: dict[str, Path]) -> tuple[str, str]:
    """(shipped name, mutated YAML text)."""
    name = draw(st.sampled_from(sorted(paths)))
    data = original(paths[name])
    for _ in range(draw(st.integers(1, 3))):
        candidates = key_paths(data)[1:]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent, key = parent_and_key(data, path)
        action = draw(st.sampled_from(["delete", "replace", "add", "text"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(weird_values)
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.text(min_size=1, max_size=10))] = draw(weird_values)
        else:
            parent[key] = SENTINEL
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    edit = draw(text_edits)
    if edit[0] == "bomb":
        _, levels, fan = edit
        lines = ["bomb0: &b0 [" + ", ".join(["lol"] * fan) + "]"]
        for level in range(1, levels):
            lines.append(f"bomb{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * fan) + "]")
        text += "\n".join(lines) + "\n"
    elif edit[0] == "deep":
        text = text.replace(repr(SENTINEL), SENTINEL).replace(
            SENTINEL, "[" * edit[1] + "]" * edit[1]
        )
    elif edit[0] == "digits":
        text = text.replace(repr(SENTINEL), SENTINEL).replace(SENTINEL, "9" * edit[1])
    elif edit[0] == "alias" and re.search(r"^name: ", text, re.M):
        text = re.sub(r"^name: ", "name: &a ", text, count=1, flags=re.M)
        text = text.replace(repr(SENTINEL), SENTINEL).replace(SENTINEL, "*a")
    elif edit[0] == "unicode":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + edit[1] + text[at:]
    return name, text


def assert_config_error_lines(message: str, path: Path) -> None:
    lines = message.split("\n")
    assert lines and all(line for line in lines), message
    for line in lines:
        if "too long for a config" in line or "too large for a config" in line:
            assert line.startswith(f"{path}: "), line  # about the whole file
        else:
            assert re.match(rf"{re.escape(str(path))}:\d+: \S", line), line
    assert "Traceback" not in message


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@fuzz(300)
@given(case=mutated(CONFIGS))
def test_mutated_shipped_configs_load_or_give_config_error_lines(folder, case):
    name, text = case
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(str(path))
    except ConfigError as exc:
        assert_config_error_lines(str(exc), path)


@pytest.mark.skipif(not SWEEPS, reason="no shipped sweep files")
@fuzz(60)
@given(case=mutated(SWEEPS))
def test_mutated_shipped_sweeps_load_or_give_config_error_lines(folder, case):
    name, text = case
    path = folder / f"sweep-{name}.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        sweep = load_sweep(str(path))
        trials = generate_trials(sweep)
        trial_config(sweep, trials[0])
    except ConfigError as exc:
        # A trial's config errors point at the sweep file or at the base config.
        base = CONFIGS.get("ch6-hyperparameter-search")
        lines = str(exc).split("\n")
        for line in lines:
            assert re.match(r"\S+(:\d+)?: \S", line), line
            assert line.startswith((str(path), str(base), "--set")), line


@fuzz(30)
@given(case=mutated(CONFIGS))
def test_mutated_configs_through_the_cli_exit_0_or_2_with_error_lines(cli, folder, case):
    name, text = case
    path = folder / f"cli-{name}.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("summary", str(path))
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.stderr.rstrip("\n").split("\n")
        assert all(line.startswith(f"error: {path}") for line in lines), result.stderr
