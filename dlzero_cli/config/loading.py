"""Loading: a config file or a shipped config's name, overrides applied, validated.

The shipped configs live in the checkout's top-level configs/ folder, which the wheel
carries inside the package.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from dlzero_cli.config.rules import validate
from dlzero_cli.config.schema import Config
from dlzero_cli.config.source import (
    MAX_YAML_CHARS,
    ConfigSource,
    Override,
    apply_overrides,
    parse_yaml,
)
from dlzero_cli.engine.registry import did_you_mean
from dlzero_cli.errors import ConfigError

DEFAULT_CONFIG = "digits-64-50-100-10"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where its values came from (for later error lines)."""

    config: Config
    source: ConfigSource


def shipped_config_dir() -> Path:
    """The shipped configs: inside the installed wheel, or the checkout's configs/."""
    packaged = Path(__file__).resolve().parent.parent / "configs"
    if packaged.is_dir():
        return packaged
    # Source checkouts and editable installs have no copy inside the package; the one
    # copy is the top-level configs/ folder next to it.
    return Path(__file__).resolve().parents[2] / "configs"


def shipped_configs() -> dict[str, Path]:
    folder = shipped_config_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def shipped_sweeps() -> dict[str, Path]:
    """The shipped sweep files, in the shipped configs' sweeps/ subfolder."""
    folder = shipped_config_dir() / "sweeps"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def file_or_shipped(name_or_path: str, shipped: dict[str, Path], file_kind: str) -> Path | None:
    """The file `name_or_path` names: an existing file, or a shipped one by its bare
    name (with or without .yaml); None when it is neither. A folder is a ConfigError
    ("give a `file_kind`"). A path that names a folder is never silently taken for the
    shipped file of the same name."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    stem = candidate.name.removesuffix(".yaml").removesuffix(".yml")
    if stem in shipped and candidate.parent == Path("."):
        return shipped[stem]
    if candidate.is_dir():
        raise ConfigError(f"{name_or_path}: is a folder; give a {file_kind}")
    return None


def resolve_config_path(name_or_path: str | None) -> Path:
    """A config file path, or the name of a shipped config (with or without .yaml)."""
    if name_or_path is None:
        name_or_path = DEFAULT_CONFIG
    shipped = shipped_configs()
    found = file_or_shipped(name_or_path, shipped, ".yaml config file")
    if found is not None:
        return found
    candidate = Path(name_or_path)
    stem = candidate.name.removesuffix(".yaml").removesuffix(".yml")
    if candidate.parent != Path("."):
        raise ConfigError(f"{name_or_path}: no such config file")
    hint = did_you_mean(stem, list(shipped))
    raise ConfigError(
        f"{name_or_path}: no such config file or shipped config; "
        f"`dlzero configs` lists the shipped ones{hint}"
    )


def read_text(path: Path) -> str:
    """A config or sweep file's text; one that is too large is refused before reading."""
    try:
        size = path.stat().st_size
        if size > MAX_YAML_CHARS * 4:  # UTF-8 takes at most 4 bytes a character
            raise ConfigError(
                f"{path}: {size:,} bytes is too large for a config (at most "
                f"{MAX_YAML_CHARS:,} characters)"
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (UTF-8 YAML expected)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_config(
    name_or_path: str | None = None,
    overrides: Iterable[str | Override] = (),
    check_memory: bool = True,
) -> LoadedConfig:
    """Read, override and validate a config; raise ConfigError with one line per problem.

    Overrides are `--set` strings ('key.path=value') or located `Override`s. With
    `check_memory` (the default), a network too large to train in this machine's
    memory is refused at the line of model.layers.
    """
    path = resolve_config_path(name_or_path)
    data, lines = parse_yaml(read_text(path), str(path))
    source = ConfigSource(str(path), lines)
    if data is None:
        raise ConfigError(
            f"{path}:1: the file is empty (or only comments); a config needs at least "
            "`model: {layers: ...}`, see `dlzero configs`"
        )
    if isinstance(data, dict):
        # A config without a name is named after its file.
        data.setdefault("name", path.stem)
        apply_overrides(data, overrides, source)
    return LoadedConfig(validate(data, source, check_memory), source)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


@dataclass(frozen=True)
class ShippedConfig:
    name: str
    description: str
    path: Path
    is_default: bool


def describe_shipped_configs() -> list[ShippedConfig]:
    """The shipped configs with their one-line descriptions, for `dlzero configs`."""
    listed = []
    for name, path in shipped_configs().items():
        data, _ = parse_yaml(read_text(path), str(path))
        description = str(data.get("description", "")) if isinstance(data, dict) else ""
        listed.append(ShippedConfig(name, description, path, name == DEFAULT_CONFIG))
    return listed
