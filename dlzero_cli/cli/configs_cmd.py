"""`dlzero configs`: the shipped configs, one line each."""

from __future__ import annotations

from dlzero_cli.cli import app
from dlzero_cli.cli.common import handles_errors, stdout


@app.command("configs")
@handles_errors
def configs_command() -> None:
    """List the shipped configs with a one-line description each.

    Any of them can be named instead of a path:

    ```
    dlzero train xor-2-4-1
    ```
    """
    from rich.table import Table

    from dlzero_cli.config import describe_shipped_configs

    table = Table(box=None, show_header=True, header_style="bold")
    table.add_column("config")
    table.add_column("description")
    for shipped in describe_shipped_configs():
        table.add_row(
            shipped.name + (" (default)" if shipped.is_default else ""), shipped.description
        )
    stdout.print(table)
