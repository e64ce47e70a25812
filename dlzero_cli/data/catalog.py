"""Every dataset dlzero knows, registered in DATASETS by importing their modules.

Code that looks datasets up by name imports DATASETS from here, so the registry is
always complete: the embedded sets and the downloadable ones. The catalogue's typed
views (`describe_datasets`, `download_dataset`) are what `dlzero datasets` and
`dlzero download` print.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlzero_cli.data import embedded, remote  # noqa: F401  (each module registers its datasets)
from dlzero_cli.data.datasets import DATASETS, SPLITS, Dataset
from dlzero_cli.data.download import DownloadEvents, parse_mirror
from dlzero_cli.errors import UsageError

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "Downloaded",
    "describe_datasets",
    "download_dataset",
    "downloadable_names",
]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    classes: int
    input_shape: tuple[int, ...]
    split_sizes: dict[str, int]
    license: str
    origin: str
    downloadable: bool
    present: tuple[str, ...]  # the splits that are here (all, for embedded data)


def describe_datasets(data_dir: Path | None = None) -> list[DatasetInfo]:
    """Every dataset with its shape, sizes, license, origin and which splits are here."""
    return [
        DatasetInfo(
            ds.name,
            ds.classes,
            ds.input_shape,
            ds.split_sizes(),
            ds.license,
            ds.origin(),
            ds.downloadable,
            tuple(ds.present_splits(data_dir)),
        )  # fmt: skip
        for ds in (entry.value for entry in DATASETS.entries())
    ]


def downloadable_names() -> list[str]:
    return [entry.name for entry in DATASETS.entries() if entry.value.downloadable]


@dataclass(frozen=True)
class Downloaded:
    folder: Path
    fetched: int  # files installed now
    present: int  # files that were already here and verified


def download_dataset(
    name: str,
    data_dir: Path | None,
    split: str,
    mirrors: list[str],
    events: DownloadEvents,
    *,
    force: bool = False,
    timeout: float = 30.0,
) -> Downloaded:
    """`dlzero download`: fetch and verify a dataset's files of `split` (or "all")."""
    dataset = DATASETS.get(name)
    if not isinstance(dataset, remote.IdxDataset):
        raise UsageError(
            f"dataset {name!r} ships inside dlzero and needs no download; "
            f"downloadable: {', '.join(downloadable_names())}"
        )
    sources = [parse_mirror(m) for m in mirrors]
    splits = SPLITS if split == "all" else (split,)
    results = dataset.download(data_dir, splits, sources, events, force=force, timeout=timeout)
    fetched = sum(1 for *_, was_fetched in results if was_fetched)
    return Downloaded(dataset.folder(data_dir).root, fetched, len(results) - fetched)
