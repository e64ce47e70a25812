"""`dlzero summary`: the layers of a config's network, their shapes and costs."""

from __future__ import annotations

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import handles_errors, stdout


@app.command("summary")
@handles_errors
def summary_command(
    config: str = typer.Argument(
        None,
        help="A YAML config file or a shipped config's name [default: the default].",
        show_default=False,
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config value (repeatable)."),
) -> None:
    """Print each layer with its output shape (batch first), parameters and multiply-adds.

    ```
    dlzero summary simple-convnet-mnist
    dlzero summary mnist-784-50-100-10 --set train.batch_size=1
    ```
    """
    from dlzero_cli.cli.tables import network_table
    from dlzero_cli.config import load_config
    from dlzero_cli.model import summarize

    summary = summarize(load_config(config, set_, check_memory=False))
    stdout.print(
        network_table(summary.layers, summary.input_shape, summary.batch_size, summary.title)
    )
