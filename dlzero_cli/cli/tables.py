"""Rich tables shared by several commands."""

from __future__ import annotations

from collections.abc import Collection
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


def plain_table(headers: list[str], rows: list[list[str]], right: Collection[int] = ()) -> str:
    """Columns aligned with two spaces, for pipes and logs (no box characters, no
    wrapping): each row stays one line that grep and awk can read."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        parts = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def table(
    headers: list[str], rows: list[list[str]], right: Collection[int] = (), title: str | None = None
) -> Table:
    """A rich Table of plain-text cells (no markup interpreted in them)."""
    from rich.text import Text

    out = Table(title=title, title_justify="left", header_style="bold")
    for i, header in enumerate(headers):
        out.add_column(header, justify="right" if i in right else "left")
    for row in rows:
        out.add_row(*(Text(cell) for cell in row))
    return out


def when(iso: str | None) -> str:
    """2026-11-30T03:05:18.123+00:00 -> 2026-11-30 03:05:18 (UTC, as recorded)."""
    return "-" if not iso else iso[:19].replace("T", " ")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
