"""`dlzero download` and `dlzero datasets`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import DATA_DIR_OPTION, handles_errors, stdout, typed_name


class SplitChoice(str, Enum):
    train = "train"
    test = "test"
    all = "all"


@app.command("download")
@handles_errors
def download_command(
    dataset: str = typer.Argument(..., help="mnist or fashion-mnist (see `dlzero datasets`)."),
    data_dir: Path = DATA_DIR_OPTION,
    split: SplitChoice = typer.Option(
        SplitChoice.all, "--split", case_sensitive=False, help="Which files to fetch."
    ),
    mirror: list[str] = typer.Option(
        [], "--mirror", help="A URL or local folder to try first (repeatable)."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch again even if present and verified."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to wait for data."),
) -> None:
    """Download a dataset, verify every file against pinned checksums, and cache it.

    Files go to `data/DATASET/` (or `--data-dir`, or $DLZERO_DATA_DIR). Sources are
    tried in order: `--mirror` URLs and folders, an installed Debian package, then the
    official mirrors.

    ```
    dlzero download mnist
    dlzero download mnist --split test --mirror ../shared/data/mnist
    dlzero download fashion-mnist --data-dir ~/datasets
    ```
    """
    from dlzero_cli.cli.download_progress import make_download_events
    from dlzero_cli.data.catalog import DATASETS, download_dataset

    typed_name(DATASETS, dataset)

    events = make_download_events()
    try:
        result = download_dataset(
            dataset, data_dir, split.value, mirror, events, force=force, timeout=timeout
        )
    finally:
        events.close()
    if result.fetched == 0:
        stdout.print(
            f"{dataset}: all {result.present} files present and verified in {result.folder}; "
            "nothing to do (--force fetches again)"
        )
    else:
        stdout.print(
            f"{dataset}: {result.fetched} file(s) installed and verified, "
            f"{result.present} already present, in {result.folder}"
        )


@app.command("datasets")
@handles_errors
def datasets_command(data_dir: Path = DATA_DIR_OPTION) -> None:
    """List every dataset, embedded and downloadable, and whether it is here.

    ```
    dlzero datasets
    dlzero datasets --data-dir ~/datasets
    ```
    """
    from rich.table import Table

    from dlzero_cli.data.catalog import describe_datasets

    table = Table(show_header=True, header_style="bold")
    for column in ("dataset", "classes", "input", "train / test", "license", "source", "local"):
        table.add_column(column, no_wrap=column in ("dataset", "input"))
    for info in describe_datasets(data_dir):
        local = (", ".join(info.present) or "no") if info.downloadable else "yes"
        sizes = " / ".join(f"{size:,}" for size in info.split_sizes.values())
        shape = "x".join(map(str, info.input_shape))
        table.add_row(info.name, str(info.classes), shape, sizes, info.license, info.origin, local)
    stdout.print(table)
