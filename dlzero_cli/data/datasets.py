"""The dataset registry and the small interface every dataset offers.

A dataset gives its training and test splits as arrays: inputs in their raw scale
(uint8 pixels, kept small in memory; scaling happens per batch) and int64 labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from dlzero_cli.engine.registry import Registry

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Arrays:
    """Inputs x (N, *input_shape) in raw scale and integer labels y (N,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, indices: np.ndarray) -> Arrays:
        return Arrays(self.x[indices], self.y[indices])


@dataclass(frozen=True)
class Dataset:
    """What a model needs to know about a dataset, and how to load it."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    # Largest raw input value: `scale` normalisation divides by it (16 for digits).
    pixel_max: float
    license: str
    source: str

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def classes(self) -> int:
        return len(self.class_names)

    # False: the data ships inside dlzero; True: `dlzero download` fetches it.
    downloadable: ClassVar[bool] = False

    def load(self, split: str, data_dir: Path | None = None) -> Arrays:
        raise NotImplementedError

    def is_available(self, data_dir: Path | None = None) -> bool:
        return True

    def split_sizes(self) -> dict[str, int]:
        """Samples per split, without needing the data to be here."""
        return {split: len(self.load(split)) for split in SPLITS}

    def present_splits(self, data_dir: Path | None = None) -> list[str]:
        """The splits whose data is here (all of them for embedded data)."""
        return list(SPLITS)

    def origin(self) -> str:
        """Where the data comes from, in a few words."""
        return self.source


DATASETS: Registry[Dataset] = Registry("dataset")


def register(dataset: Dataset) -> Dataset:
    DATASETS.add(dataset.name, dataset, dataset.description)
    return dataset
