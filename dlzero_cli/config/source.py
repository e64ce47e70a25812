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

from dlzero_cli.config.schema import is_section, kind_of, shown
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
        """The file line or override a key's value came from. A key neither the file
        nor an override gave (a default) is blamed on what made its section: the
        file's line of the nearest section the file has, or the override that created
        the section (--set train.early_stopping.patience=3 on a file without
        early_stopping makes the override answer for the section's defaults)."""
        for end in range(len(key), 0, -1):
            prefix = key[:end]
            if prefix in self.overrides:
                return self.overrides[prefix]
            if prefix in self.lines:
                return f"{self.path}:{self.lines[prefix]}"
            for path, where in self.overrides.items():
                if path[:end] == prefix:  # an override created this section
                    return where
        return f"{self.path}:1"

    def error_line(self, key: KeyPath, message: str) -> str:
        dotted = ".".join(str(k) for k in key) or "(top level)"
        return f"{self.where(key)}: {dotted}: {message}"

    def error(self, key: KeyPath, message: str) -> ConfigError:
        return ConfigError(self.error_line(key, message))


# --------------------------------------------------------------------------- YAML

# Bounds on what a config or sweep file may ask of the parser, so that a hostile or
# broken file fails at once with one line instead of exhausting memory, time or the
# stack. A shipped config is about 20 lines, 60 values and 6 levels deep.
MAX_YAML_CHARS = 256 * 1024
MAX_DEPTH = 32  # nested mappings and lists (model.layers[i].conv.stride[0] is 6)
MAX_VALUES = 10_000  # values after aliases are expanded: the "billion laughs" bound
MAX_INT_DIGITS = 100  # Python refuses int() of more than 4,300 digits with a traceback


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "str", "int", "float", "bool", "null")
)


_NOT_NAMES = {"tag:yaml.org,2002:null": "null", "tag:yaml.org,2002:bool": "true/false"}


class _Refused(yaml.MarkedYAMLError):
    """A file the bounded loader will not read further: `problem` at `problem_mark`."""


class _Loader(yaml.SafeLoader):
    """The safe loader, bounded (depth, values after aliases, integer digits), also
    reading 1e-3 as a float (YAML 1.1 wants 1.0e-3).

    Aliases are allowed, because a repeated block of layers or a shared value is
    ordinary YAML, but each alias counts as the whole value it repeats, so nested
    aliases that would expand to billions of values are refused while composing,
    before any of them is built. An alias inside its own anchor (a recursive value)
    is refused too.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0  # composed so far, each alias counted at its expanded size
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its expanded size

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise _Refused(
                None,
                None,
                f"more than {MAX_VALUES:,} values once aliases are expanded; "
                "a config is never this large: write the values out or use fewer aliases",
                mark,
            )

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) not in self._sizes:
                    raise _Refused(
                        None,
                        None,
                        f"alias *{event.anchor} is inside its own anchor &{event.anchor}; "
                        "a value cannot contain itself",
                        event.start_mark,
                    )
                self._count(self._sizes[id(target)], event.start_mark)
            return super().compose_node(parent, index)
        event = self.peek_event()
        mark = event.start_mark
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _PLAIN_TAGS and tag != "!":
            # An explicit tag, even one the safe loader knows (!!binary, !!set,
            # !!timestamp, !!omap): refused at its line like any other, so that a config
            # only ever holds plain values. An unquoted 2001-12-14 (no tag) is still
            # read as YAML 1.1's date, and described as one.
            raise _Refused(
                None,
                None,
                f"the tag {_short_tag(tag)} is not allowed; a config holds plain values "
                "only (mappings, lists, text, numbers, true/false)",
                mark,
            )
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                None, None, f"nested more than {MAX_DEPTH} levels deep; a config needs a few", mark
            )
        before = self._values
        self._count(1, mark)
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._sizes[id(node)] = self._values - before
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(ch.isdigit() for ch in node.value)
        if digits > MAX_INT_DIGITS:
            raise _Refused(
                None,
                None,
                f"a number of {digits:,} digits; numbers in a config have at most {MAX_INT_DIGITS}",
                node.start_mark,
            )
        return super().construct_yaml_int(node)

    def construct_undefined(self, node: yaml.Node) -> Any:
        """Any tag but the plain ones (!!python/object/apply:os.system, !foo, ...)."""
        raise _Refused(
            None,
            None,
            f"the tag {_short_tag(node.tag)} is not allowed; a config holds plain values "
            "only (mappings, lists, text, numbers, true/false)",
            node.start_mark,
        )

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date 2024-13-45
            raise _Refused(
                None, None, f"cannot read {shown(node.value)}: {exc}", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor(None, _Loader.construct_undefined)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, path: str) -> tuple[Any, dict[KeyPath, int]]:
    """The document's data and the 1-based line of every mapping key and list item.

    Every problem, malformed YAML or a bound exceeded, is a ConfigError
    `path:line: ...`; nothing but plain data (mappings, lists, strings, numbers,
    booleans, null) is ever constructed: no tag can name a Python object.
    """
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(
            f"{path}: {len(text):,} characters is too long for a config "
            f"(at most {MAX_YAML_CHARS:,})"
        )
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 1
        raise ConfigError(f"{path}:{line}: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position
        line = text[: exc.position].count("\n") + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise ConfigError(
            f"{path}:{line}: malformed YAML: unacceptable character #x{code:04x}: {exc.reason}"
        ) from None
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
        # Aliases are expanded here as in `data`; the composer bounded their expanded
        # size, so this pass is linear in at most MAX_VALUES nodes.
        _record_lines(node, (), lines, path)
    return data, lines


def _record_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key, str):  # a list or mapping as a key: ? [a, b]
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: "
                    f"{'.'.join(map(str, prefix)) or '(top level)'}: a key must be a name, "
                    "not a list or mapping"
                )
            if key_node.tag in _NOT_NAMES:  # `null: 2`, `~: 2`, `true: 2` read as no name
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: "
                    f"{'.'.join(map(str, prefix)) or '(top level)'}: a key must be a name, "
                    f"not {_NOT_NAMES[key_node.tag]} ('{key}' reads as one; quote it to mean "
                    "the word)"
                )
            if key in seen:
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: "
                    f"{'.'.join(map(str, prefix + (key,)))}: duplicate key; keep only one"
                )
            seen.add(key)
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:int":
                # The data holds `1: he` under the number 1: an error about it names
                # the number, and must find the same line as the text "1" would.
                try:
                    lines[prefix + (int(key.replace("_", ""), 0),)] = key_node.start_mark.line + 1
                except ValueError:
                    pass  # 0o17 or 1:30 forms; such a key keeps only its text's line
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
    (`--set key=value`, `--name NAME` for a command's shortcut option, or `file:line`
    for one read from another file)."""

    key: tuple[str, ...]
    value: Any
    where: str

    @classmethod
    def from_option(cls, option: str, key: str, value: Any) -> Override:
        """A command's shortcut option (`--name a`, `--epochs 5`) for `key`, blamed on
        the option as it was typed, not on a --set nobody wrote. The value is taken as
        given (typer already made it an int or a text)."""
        return cls(tuple(key.split(".")), value, f"{option} {echoed(str(value))}")


ECHO_CHARS = 60  # an argument quoted back in an error line is cut to about this


def echoed(text: str, limit: int = ECHO_CHARS) -> str:
    """A command-line argument as an error line quotes it: on one line (a newline or
    other control character shown escaped, as \\n) and cut short with "..." when long,
    so that a 5,000-digit value does not make a 5 KB line."""
    text = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_override(item: str) -> Override:
    """'key.path=value' (a --set argument) as an Override; the value is read as YAML."""
    key_text, sep, value_text = item.partition("=")
    key = tuple(part.strip() for part in key_text.split("."))
    where = f"--set {echoed(item)}"
    if not sep or not all(key):
        raise ConfigError(f"{where}: expected key.path=value, for example --set train.epochs=5")
    try:
        value = parse_value(value_text)
    except ConfigError as exc:
        # parse_yaml's "--set:LINE: problem": a value is one argument, its line is noise
        problem = str(exc).split(": ", 1)[1]
        raise ConfigError(f"{where}: {echoed(problem, 200)}") from None
    if value is None:
        raise ConfigError(f"{where}: the value is empty; write key.path=value")
    return Override(key, value, where)


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
                # The override made this section: it answers for the section's defaults.
                source.overrides.setdefault(key[: depth + 1], override.where)
            child = target[part]
            if not isinstance(child, dict):
                section = key[: depth + 1]
                dotted = ".".join(section)
                if is_section(section) and section not in source.overrides:
                    # The schema wants a section here: the file's value is what is
                    # wrong, not the override that needs it.
                    raise source.error(
                        section,
                        f"got {kind_of(child)}, not a section of keys; "
                        f"{override.where} needs {dotted} to be one",
                    )
                raise ConfigError(f"{override.where}: {dotted} is a value, not a section")
            target = child
        target[key[-1]] = override.value
        source.overrides[key] = override.where
