"""Seeded, stratified splitting: dataset test splits and validation carve-outs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlzero_cli.data.datasets import Arrays, Dataset


def stratified_split(
    labels: np.ndarray, holdout: float | int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out), with each class held out in proportion.

    `holdout` is a fraction in [0, 1) or a count of samples. Both index arrays are
    sorted so that the split does not depend on the order classes are visited in.
    """
    n = labels.shape[0]
    count = int(round(holdout * n)) if isinstance(holdout, float) else int(holdout)
    if count <= 0:
        return np.arange(n), np.empty(0, dtype=np.int64)
    classes, class_counts = np.unique(labels, return_counts=True)
    # Largest-remainder apportionment, so per-class counts add up to `count` exactly.
    exact = class_counts * (count / n)
    per_class = np.floor(exact).astype(np.int64)
    remainder = count - per_class.sum()
    per_class[np.argsort(-(exact - per_class), kind="stable")[:remainder]] += 1
    held = []
    for cls, take in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == cls)
        held.append(rng.permutation(members)[:take])
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(n), held_out, assume_unique=True)
    return kept, held_out


def carve_validation(
    train: Arrays, validation: float | int, split_seed: int
) -> tuple[Arrays, Arrays | None]:
    """(train, val): a stratified, seeded hold-out of the training split.

    Raises ValueError when the hold-out would leave no training samples.
    """
    if not validation:
        return train, None
    n = len(train)
    count = int(round(validation * n)) if isinstance(validation, float) else int(validation)
    if count >= n:
        raise ValueError(
            f"got {validation!r}, which would hold out {count} of the {n} training samples "
            f"and leave none to train on; use a smaller fraction or a count below {n}"
        )
    kept, held = stratified_split(train.y, count, np.random.default_rng(split_seed))
    return train.take(kept), train.take(held)


def limit_samples(data: Arrays, limit: int | None, split_seed: int) -> Arrays:
    """A class-stratified subset of `limit` samples (all of `data` when it is smaller)."""
    if limit is None or limit >= len(data):
        return data
    # A seed stream of its own, so a limit does not shift the validation draw's.
    rng = np.random.default_rng([split_seed, 1])
    _, subset = stratified_split(data.y, int(limit), rng)
    return data.take(subset)


def dataset_splits(
    dataset: Dataset,
    validation: float | int,
    split_seed: int,
    data_dir: Path | None = None,
    limit: int | None = None,
    wanted: tuple[str, ...] = ("train", "val", "test"),
) -> dict[str, Arrays]:
    """The `wanted` splits of {'train', 'val', 'test'}; 'val' is empty without validation.

    The validation hold-out comes from the whole training split; `limit` then shrinks
    what is left for training, so a small-data run (the book's 300-sample overfitting
    demo, a CI smoke run) is still judged on a full-sized validation set. The test split
    is always whole. Only the files the wanted splits need are read.
    """
    splits: dict[str, Arrays] = {}
    if "train" in wanted or "val" in wanted:
        train, val = carve_validation(dataset.load("train", data_dir), validation, split_seed)
        splits["train"] = limit_samples(train, limit, split_seed)
        splits["val"] = val if val is not None else Arrays(train.x[:0], train.y[:0])
    if "test" in wanted:
        splits["test"] = dataset.load("test", data_dir)
    return {name: splits[name] for name in wanted}
