"""A config's splits of its dataset: data.validation, data.limit and split_seed applied,
with a problem reported at the config's own line."""

from __future__ import annotations

from pathlib import Path

from dlzero_cli.config import LoadedConfig
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.data.splits import dataset_splits


def load_splits(
    loaded: LoadedConfig,
    data_dir: Path | None = None,
    wanted: tuple[str, ...] = ("train", "val", "test"),
    dataset: Dataset | None = None,
) -> dict[str, Arrays]:
    """The config's splits of its dataset (or of `dataset`, split the same way)."""
    data = loaded.config.data
    dataset = dataset or DATASETS.get(data.dataset)
    try:
        return dataset_splits(
            dataset, data.validation, data.split_seed, data_dir, data.limit, wanted
        )
    except ValueError as exc:
        raise loaded.source.error(("data", "validation"), str(exc)) from None
