"""`dlzero summary`: the layers of a config's network, their shapes and costs."""

from __future__ import annotations

from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import RUNS_DIR_OPTION, handles_errors, stdout
from dlzero_cli.cli.targets import CONFIG_OR_RUN_HELP


@app.command("summary")
@handles_errors
def summary_command(
    config: str = typer.Argument(None, help=CONFIG_OR_RUN_HELP, show_default=False),
    set_: list[str] = typer.Option([], "--set", help="Override a config value (repeatable)."),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """Print each layer with its output shape (batch first), parameters and multiply-adds.

    ```
    dlzero summary simple-convnet-mnist
    dlzero summary mnist-784-50-100-10 --set train.batch_size=1
    dlzero summary latest
    ```
    """
    from dlzero_cli.cli.tables import network_table
    from dlzero_cli.cli.targets import load_config_or_run
    from dlzero_cli.model import summarize

    summary = summarize(load_config_or_run(config, set_, runs_dir, check_memory=False))
    stdout.print(
        network_table(summary.layers, summary.input_shape, summary.batch_size, summary.title)
    )
