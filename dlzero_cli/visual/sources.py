"""What `graph` and `gradcheck` look at: a CONFIG (a fresh network) or a RUN (trained).

An argument is a RUN when it is `latest` or names an existing folder (a path, or a
name under the runs folder); anything else is a CONFIG (a YAML file or the name of a
shipped config). A folder that is not a finished run is an error, never a config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.config import LoadedConfig, load_config
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.errors import UsageError
from dlzero_cli.model import Model
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.splits import load_splits


@dataclass(frozen=True)
class Subject:
    """A model to draw or check, with the config it comes from."""

    model: Model
    loaded: LoadedConfig
    name: str  # the config's name, or the run folder's
    run: RunFolder | None  # None: a config's freshly initialised network

    @property
    def trained(self) -> bool:
        return self.run is not None


def is_run(target: str, runs_dir: Path) -> bool:
    """`latest`, or an existing folder (a path, or a name under `runs_dir`)."""
    return target == "latest" or Path(target).is_dir() or (runs_dir / target).is_dir()


def open_subject(target: str | None, runs_dir: Path, overrides: Sequence[str] = ()) -> Subject:
    """The model of a RUN (its best weights) or of a CONFIG (initialised from its seed)."""
    if target is not None and is_run(target, runs_dir):
        if overrides:
            raise UsageError(
                f"--set changes a CONFIG; {target!r} is a run, whose weights fit its own "
                "config: leave out --set, or give a config"
            )
        folder = RunFolder.find(target, runs_dir)
        # The run's weights are already in memory: its config is read, not checked
        # again against the memory this machine has now (only training checks that).
        loaded = folder.read_config(check_memory=False)
        return Subject(folder.read_model(), loaded, folder.name, folder)
    loaded = load_config(target, overrides)
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    model = Model.from_config(config, dataset, np.random.default_rng(config.seed), loaded.source)
    return Subject(model, loaded, config.name, None)


@dataclass(frozen=True)
class Samples:
    x: np.ndarray  # raw scale, (N, *input_shape)
    y: np.ndarray  # labels (N,)
    origin: str  # "digits val split", "random inputs (mnist is not on disk)"


def dataset_samples(subject: Subject, count: int, data_dir: Path | None) -> Samples:
    """The first `count` samples of the validation split, or of the test split when the
    run holds none out (loads only what is on disk: a DataError otherwise)."""
    loaded = subject.loaded
    dataset = DATASETS.get(subject.model.dataset)
    split = "val" if loaded.config.data.validation else "test"
    data = load_splits(loaded, data_dir, (split,), dataset)[split]
    if not len(data):
        split = "test"
        data = load_splits(loaded, data_dir, (split,), dataset)[split]
    data = Arrays(np.asarray(data.x[:count]), np.asarray(data.y[:count]))
    return Samples(data.x, data.y, f"{len(data)} samples of {dataset.name}'s {split} split")


def check_samples(
    subject: Subject, count: int, data_dir: Path | None, rng: np.random.Generator
) -> Samples:
    """`count` training samples when the dataset is on disk; otherwise seeded random
    inputs in the dataset's raw range with random labels (a gradient check needs
    shapes and a loss, not real data)."""
    model = subject.model
    dataset = DATASETS.get(model.dataset)
    if "train" in dataset.present_splits(data_dir):
        train = load_splits(subject.loaded, data_dir, ("train",), dataset)["train"]
        if len(train):
            picked = np.sort(rng.choice(len(train), min(count, len(train)), replace=False))
            return Samples(
                np.asarray(train.x[picked]),
                np.asarray(train.y[picked]),
                f"{picked.size} samples of {dataset.name}'s train split",
            )
    x = rng.uniform(0, dataset.pixel_max, (count, *model.input_shape))
    y = rng.integers(0, len(model.class_names), count)
    return Samples(x, y, f"{count} random inputs ({dataset.name} is not on disk)")
