"""CONFIG or RUN: a command that reads a config also takes a run (its config.yaml)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlzero_cli.config import LoadedConfig

CONFIG_OR_RUN_HELP = (
    "A YAML config file, a shipped config's name, or a run (a folder, or `latest`) "
    "for the config it was trained with [default: the default config]."
)


def load_config_or_run(
    target: str | None,
    overrides: Sequence[str],
    runs_dir: Path | None,
    check_memory: bool = True,
) -> LoadedConfig:
    """The config `target` names: a run's config.yaml when it names a run (`latest`, a
    run folder, or a run's name under the runs folder), else a config file or name."""
    from dlzero_cli.cli.common import runs_dir_or_default
    from dlzero_cli.config import load_config
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.visual.sources import is_run

    runs = runs_dir_or_default(runs_dir)
    if target is not None and is_run(target, runs):
        folder = RunFolder.find(target, runs, need_weights=False)
        # The run's own file first, as every command reads it (damaged: RunError, exit 1;
        # an older run's meanings upgraded); then the user's --set on top (exit 2).
        loaded = folder.read_config(check_memory=False)
        if not overrides and not check_memory:
            return loaded
        upgrades = folder.config_upgrades()
        return load_config(
            str(folder.config_path), [*upgrades, *overrides], check_memory=check_memory
        )
    return load_config(target, overrides, check_memory=check_memory)
