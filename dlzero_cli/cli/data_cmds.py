"""`dlzero download` and `dlzero datasets`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import DATA_DIR_OPTION, handles_errors, stdout


class SplitChoice(str, Enum):
    train = "train"
    test = "test"
    all = "all"


@app.command("download")
@handles_errors
def download_command(
    dataset: str = typer.Argument(..., help="mnist or fashion-mnist (see `dlzero datasets`)."),
    data_dir: Path = DATA_DIR_OPTION,
    split: SplitChoice = typer.Option(SplitChoice.all, "--split", help="Which files to fetch."),
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
    from dlzero_cli.data.catalog import DATASETS
    from dlzero_cli.data.datasets import SPLITS
    from dlzero_cli.data.download import parse_mirror
    from dlzero_cli.data.remote import IdxDataset
    from dlzero_cli.errors import UsageError

    entry = DATASETS.get(dataset)
    if not isinstance(entry, IdxDataset):
        raise UsageError(
            f"dataset {dataset!r} ships inside dlzero and needs no download; "
            f"downloadable: {', '.join(downloadable_names())}"
        )
    sources = [parse_mirror(m) for m in mirror]
    splits = SPLITS if split is SplitChoice.all else (split.value,)
    events = make_download_events()
    try:
        results = entry.download(data_dir, splits, sources, events, force=force, timeout=timeout)
    finally:
        events.close()
    folder = entry.folder(data_dir).root
    fetched = sum(1 for *_, was_fetched in results if was_fetched)
    if fetched == 0:
        stdout.print(
            f"{dataset}: all {len(results)} files present and verified in {folder}; nothing to "
            "do (--force fetches again)"
        )
    else:
        stdout.print(
            f"{dataset}: {fetched} file(s) installed and verified, "
            f"{len(results) - fetched} already present, in {folder}"
        )


def downloadable_names() -> list[str]:
    from dlzero_cli.data.catalog import DATASETS
    from dlzero_cli.data.remote import IdxDataset

    return [e.name for e in DATASETS.entries() if isinstance(e.value, IdxDataset)]


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

    from dlzero_cli.data.catalog import DATASETS
    from dlzero_cli.data.remote import IdxDataset

    table = Table(show_header=True, header_style="bold")
    for column in ("dataset", "classes", "input", "train / test", "license", "source", "local"):
        table.add_column(column, no_wrap=column in ("dataset", "input"))
    for entry in DATASETS.entries():
        ds = entry.value
        if isinstance(ds, IdxDataset):
            present = ds.present_splits(data_dir)
            local = ", ".join(present) if present else "no"
            sizes = "60,000 / 10,000"
            source = f"download ({len(ds.mirrors)} mirrors)"
        else:
            local, source = "yes", "embedded"
            sizes = " / ".join(f"{len(ds.load(s)):,}" for s in ("train", "test"))
        shape = "x".join(map(str, ds.input_shape))
        table.add_row(ds.name, str(ds.classes), shape, sizes, ds.license, source, local)
    stdout.print(table)
