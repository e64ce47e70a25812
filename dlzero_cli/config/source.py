"""Where a config's values come from: YAML text with the line of every key, and
`--set key.path=value` overrides, so that every error can say `file:line` or `--set ...`.
An override may also come from elsewhere with its own location (`Override`): a sweep's
`space` key, whose errors then point at its line in the sweep file.

Only PyYAML's safe loader is used; YAML `1e-3` reads as a number (YAML 1.1 alone would
read a string).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from dlzero_cli.errors import ConfigError

KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- sources


@dataclass
class ConfigSource:
    """Where each value of a config came from: a file line or a --set override."""

    path: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    # key path -> where its override was given: "--set key=value" or "sweep.yaml:8"
    overrides: dict[KeyPath, str] = field(default_factory=dict)

    def where(self, key: KeyPath) -> str:
        if key not in self.lines:
            # A key only an override created (a misspelt section such as
            # train.optimzer.lr): the override is where it comes from.
            for path, where in self.overrides.items():
                if path[: len(key)] == key:
                    return where
        for end in range(len(key), 0, -1):
            prefix = key[:end]
            if prefix in self.overrides:
                return self.overrides[prefix]
            if prefix in self.lines:
                return f"{self.path}:{self.lines[prefix]}"
        return f"{self.path}:1"

    def error_line(self, key: KeyPath, message: str) -> str:
        dotted = ".".join(str(k) for k in key) or "(top level)"
        return f"{self.where(key)}: {dotted}: {message}"

    def error(self, key: KeyPath, message: str) -> ConfigError:
        return ConfigError(self.error_line(key, message))


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """The safe loader, also reading 1e-3 as a float (YAML 1.1 wants 1.0e-3)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, path: str) -> tuple[Any, dict[KeyPath, int]]:
    """The document's data and the 1-based line of every mapping key and list item."""
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: malformed YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines, path)
    return data, lines


def _record_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: "
                    f"{'.'.join(map(str, prefix + (key,)))}: duplicate key; keep only one"
                )
            seen.add(key)
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, prefix + (key,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _record_lines(item, prefix + (index,), lines, path)


def parse_value(text: str) -> Any:
    """A --set value, read as YAML so that 5 is an int and 0.1 a float."""
    data, _ = parse_yaml(text, "--set") if text.strip() else (None, {})
    return data


# --------------------------------------------------------------------------- overrides


@dataclass(frozen=True)
class Override:
    """One value set over a config's: its key path, its value, and where it was given
    (`--set key=value`, or `file:line` for one read from another file)."""

    key: tuple[str, ...]
    value: Any
    where: str


def parse_override(item: str) -> Override:
    """'key.path=value' (a --set argument) as an Override; the value is read as YAML."""
    key_text, sep, value_text = item.partition("=")
    key = tuple(part.strip() for part in key_text.split("."))
    if not sep or not all(key):
        raise ConfigError(
            f"--set {item}: expected key.path=value, for example --set train.epochs=5"
        )
    try:
        value = parse_value(value_text)
    except ConfigError as exc:
        raise ConfigError(f"--set {item}: {str(exc).split(': ', 1)[1]}") from None
    if value is None:
        raise ConfigError(f"--set {item}: the value is empty; write key.path=value")
    return Override(key, value, f"--set {item}")


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str | Override], source: ConfigSource
) -> None:
    """Apply each 'key.path=value' or Override to `data` in place, remembering where it
    came from in `source`."""
    for item in overrides:
        override = parse_override(item) if isinstance(item, str) else item
        key = override.key
        target = data
        for depth, part in enumerate(key[:-1]):
            if target.get(part) is None:  # absent, or `early_stopping: null` in the file
                target[part] = {}
            child = target[part]
            if not isinstance(child, dict):
                dotted = ".".join(key[: depth + 1])
                raise ConfigError(f"{override.where}: {dotted} is a value, not a section")
            target = child
        target[key[-1]] = override.value
        source.overrides[key] = override.where
