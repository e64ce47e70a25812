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
    import yaml
    from rich.table import Table

    from dlzero_cli.config import DEFAULT_CONFIG, shipped_configs

    table = Table(box=None, show_header=True, header_style="bold")
    table.add_column("config")
    table.add_column("description")
    for name, path in shipped_configs().items():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        description = str(data.get("description", "")) if isinstance(data, dict) else ""
        marker = " (default)" if name == DEFAULT_CONFIG else ""
        table.add_row(name + marker, description)
    stdout.print(table)
