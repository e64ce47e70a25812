"""The YAML loader is bounded: aliases that expand too far, deep nesting, huge numbers,
huge files and unknown tags are each one `file:line:` ConfigError, quickly, and no tag
ever constructs a Python object (nothing runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlzero_cli.config import load_config, parse_yaml
from dlzero_cli.config import source as yaml_source
from dlzero_cli.config.source import MAX_DEPTH, MAX_VALUES
from dlzero_cli.errors import ConfigError
from dlzero_cli.sweeps.spec import load_sweep

MODEL = "model: {layers: 64-10}\n"


def billion_laughs(levels: int = 9) -> str:
    """Nested aliases: 9 ** levels strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


class TooMuchWork(Exception):
    """Raised by the counter below: the line-recording pass visited more nodes than
    the alias bound allows, so it is not bounded (the test fails at once, not hangs)."""


@pytest.fixture
def visits(monkeypatch):
    """Counts the nodes the line-recording pass (source._record_lines, recursive
    through the module's name) visits; past MAX_VALUES + 1 it stops the parse with
    TooMuchWork. Work counted, not seconds timed: a loaded machine cannot fail it and a
    pass that is exponential in the aliases cannot pass it."""
    original = yaml_source._record_lines
    count = [0]

    def counted(*args, **kwargs):
        count[0] += 1
        if count[0] > MAX_VALUES + 1:
            raise TooMuchWork(f"{count[0]:,} nodes visited, past the {MAX_VALUES:,} bound")
        return original(*args, **kwargs)

    monkeypatch.setattr(yaml_source, "_record_lines", counted)
    return count


def refused(text: str, tmp_path: Path, name: str = "c.yaml") -> str:
    """The one error line load_config gives for `text`, with the path as CONFIG."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message.replace(str(path), "CONFIG")


def test_aliases_count_their_expanded_size_in_a_small_file(tmp_path, visits):
    """Five levels (59,049 values once expanded, a few MB at most): small enough that a
    loader counting each alias as one value fails this cleanly, before the full bomb
    below would take the test process's memory."""
    message = refused("name: g\n" + MODEL + billion_laughs(levels=5), tmp_path)
    assert visits[0] == 0
    assert message.startswith("CONFIG:7: more than 10,000 values once aliases are expanded")


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_limit(tmp_path, visits):
    text = "name: g\n" + MODEL + billion_laughs()
    assert len(text.encode()) < 700
    message = refused(text, tmp_path)
    assert visits[0] == 0  # refused while composing, before any line is recorded
    # 9 ** 4 = 6,561 values at a3, 59,049 at a4 (line 7 of the file)
    assert message.startswith("CONFIG:7: more than 10,000 values once aliases are expanded")


def test_aliases_that_stay_small_are_ordinary_yaml(tmp_path):
    text = (
        "name: g\ntrain: {epochs: &n 3, batch_size: *n}\n"
        "model:\n  layers: [{dense: &w 20}, relu, {dense: *w}, relu, {dense: 10}]\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(str(path)).config
    assert (config.train.epochs, config.train.batch_size) == (3, 3)
    assert config.model.layers[2] == {"dense": 20}


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    message = refused("name: g\nmodel: &a {layers: [*a]}\n", tmp_path)
    assert message.startswith("CONFIG:2: alias *a is inside its own anchor &a")


@pytest.mark.parametrize("style", ["flow", "block-mapping", "block-list"])
def test_deep_nesting_is_refused_at_the_line_that_goes_too_deep(tmp_path, style):
    if style == "flow":
        text = "name: g\nmodel: " + "[" * 1000 + "]" * 1000 + "\n"
        line = 2
    elif style == "block-mapping":
        text = "name: g\nmodel:\n" + "".join(" " * i + "k:\n" for i in range(1, 200))
        line = MAX_DEPTH + 1  # model is level 2, each k one more
    else:
        text = "model:\n" + "".join(" " * i + "-\n" for i in range(1, 200))
        line = MAX_DEPTH + 1
    message = refused(text, tmp_path)
    assert message == (
        f"CONFIG:{line}: nested more than {MAX_DEPTH} levels deep; a config needs a few"
    )


def test_nesting_up_to_the_limit_is_parsed(tmp_path):
    depth = MAX_DEPTH - 1  # the top-level mapping is the first level
    data, _ = parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "x.yaml")
    for _ in range(depth):
        data = data["a"] if isinstance(data, dict) else data[0]
    assert data == []


def test_an_integer_of_more_than_4300_digits_is_one_line(tmp_path):
    message = refused("name: g\n" + MODEL + "seed: " + "9" * 5000 + "\n", tmp_path)
    assert message == "CONFIG:3: a number of 5,000 digits; numbers in a config have at most 100"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1" + "0" * 400 + ".0", "got .inf; input should be a finite number"),
        (".inf", "got .inf; input should be a finite number"),
        (".nan", "got .nan; input should be a finite number"),
        ("-.inf", "got -.inf"),
    ],
)
def test_infinite_and_nan_settings_are_refused(tmp_path, value, words):
    message = refused(
        f"name: g\n{MODEL}train:\n  optimizer: {{name: sgd, lr: {value}}}\n", tmp_path
    )
    assert message.startswith("CONFIG:4: train.optimizer.lr: ")
    assert words in message


def test_a_bad_date_is_one_line_at_its_line(tmp_path):
    message = refused(f"{MODEL}name: 2024-13-45\n", tmp_path)
    assert message.startswith("CONFIG:2: cannot read '2024-13-45'")


def test_a_list_as_a_key_is_one_line(tmp_path):
    message = refused(f"{MODEL}? [a, b]\n: 1\n", tmp_path)
    assert message.startswith("CONFIG:2: ")


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    message = refused("name: g\n" + MODEL + "# " + "x" * 2_000_000 + "\n", tmp_path)
    assert "too large for a config" in message


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system [{cmd}]",
        "!!python/object/apply:subprocess.Popen [[sh, -c, {cmd}]]",
        "!!python/object/new:os.system [{cmd}]",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/object/apply:builtins.exec [\"open({cmd}, 'w')\"]",
    ],
)
def test_python_tags_are_config_errors_and_nothing_runs(tmp_path, tag):
    marker = tmp_path / "ran"
    cmd = f"'touch {marker}'" if "exec" not in tag else f"'{marker}'"
    text = f"name: g\n{MODEL}description: {tag.format(cmd=cmd)}\n"
    message = refused(text, tmp_path)
    assert message.startswith("CONFIG:3: the tag !!python/")
    assert "is not allowed" in message
    assert not marker.exists()


def test_every_tag_but_the_plain_ones_is_refused(tmp_path):
    assert refused(f"{MODEL}name: !custom g\n", tmp_path).startswith(
        "CONFIG:2: the tag !custom is not allowed"
    )


def test_a_yaml_syntax_error_names_its_exact_line(tmp_path):
    text = "name: g\nmodel:\n  layers: 64-10\ntrain:\n  epochs: [1, 2\n  batch_size: 5\n"
    message = refused(text, tmp_path)
    # the unclosed list opened on line 5 is found out at line 6
    assert message.startswith("CONFIG:6: malformed YAML: ")
    bad_indent = "name: g\nmodel:\n  layers: 64-10\n    activation: relu\n"
    assert refused(bad_indent, tmp_path).startswith("CONFIG:4: malformed YAML: ")


def expanded_nodes(levels: int) -> int:
    """Nodes of billion_laughs(levels) with every alias written out: the top mapping,
    and a0 (a list of 9 strings), a1 (a list of 9 a0s), ..."""
    size, total = 10, 1 + 10
    for _ in range(1, levels):
        size = 1 + 9 * size
        total += size
    return total


@pytest.mark.parametrize("levels", [2, 3, 4])
def test_line_recording_visits_each_expanded_node_once(visits, levels):
    """Linear in the values: the pass visits exactly the nodes of the expanded tree
    (counted, not timed), at most MAX_VALUES of them."""
    data, lines = parse_yaml(billion_laughs(levels), "x.yaml")
    assert visits[0] == expanded_nodes(levels) <= MAX_VALUES
    assert len(lines) == visits[0] - 1  # every node but the top has a line
    assert data[f"a{levels - 1}"][8][0] is not None


def test_line_recording_never_walks_past_the_alias_bound(visits):
    """The old pass walked every alias again and again: a 9-level file is 9 ** 9 nodes,
    on which the counter stops it at once (TooMuchWork). Now it is refused before."""
    with pytest.raises(ConfigError, match="more than 10,000 values"):
        parse_yaml(billion_laughs(9), "x.yaml")
    assert visits[0] == 0


def test_sweep_files_use_the_same_bounded_loader(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: xor-2-4-1\n" + billion_laughs(), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"s\.yaml:6: more than 10,000 values"):
        load_sweep(str(path))
    path.write_text("base: xor-2-4-1\nspace: !!python/object/apply:os.system [x]\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:2: the tag !!python/object/apply"):
        load_sweep(str(path))


def test_the_cli_gives_one_line_and_exit_2(cli, tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text("name: g\n" + MODEL + billion_laughs(), encoding="utf-8")
    result = cli("summary", str(path))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
