"""Rich tables shared by several commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from dlzero_cli.engine.network import LayerSummary


def shape_text(batch: int, shape: tuple[int, ...]) -> str:
    """Batch first, as the book's table of shapes: 100x784 -> 100x10."""
    return "x".join(map(str, (batch, *shape)))


def network_table(
    rows: list[LayerSummary], input_shape: tuple[int, ...], batch: int, title: str
) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("layer")
    table.add_column(f"output (batch {batch})")
    table.add_column("parameters", justify="right")
    table.add_column("MACs / sample", justify="right")
    table.add_row("", "input", shape_text(batch, input_shape), "", "")
    for row in rows:
        table.add_row(
            str(row.index),
            row.layer,
            shape_text(batch, row.output_shape),
            f"{row.parameters:,}" if row.parameters else "",
            f"{row.macs:,}" if row.macs else "",
        )
    total_params = sum(r.parameters for r in rows)
    total_macs = sum(r.macs for r in rows)
    table.add_row(
        "", "[bold]total[/]", "", f"[bold]{total_params:,}[/]", f"[bold]{total_macs:,}[/]"
    )
    return table
