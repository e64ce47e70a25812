"""Datasets that ship inside the package and need no network.

- `digits`: the UCI optical handwritten digits (8x8, pixels 0..16, 1,797 samples),
  CC BY 4.0, E. Alpaydin and C. Kaynak. Split once, stratified with seed 0, into
  80% train (1,438) and 20% test (359); the split is part of the dataset, not of a run.
- `and`, `or`, `nand`, `xor`: the perceptron chapter's truth tables. Train and test
  are both the whole four-row table.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dlzero_cli.data.datasets import Arrays, Dataset, register
from dlzero_cli.data.splits import stratified_split
from dlzero_cli.errors import DataError

DIGITS_FILE = "digits.csv.gz"
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[Arrays, Arrays]:
    source = resources.files("dlzero_cli.data") / "files" / DIGITS_FILE
    with source.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 65:
        raise DataError(f"{DIGITS_FILE}: expected 65 columns, got shape {table.shape}")
    x = table[:, :64].astype(np.uint8).reshape(-1, 1, 8, 8)
    y = table[:, 64]
    all_rows = Arrays(x, y)
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    train_idx, test_idx = stratified_split(y, DIGITS_TEST_FRACTION, rng)
    return all_rows.take(train_idx), all_rows.take(test_idx)


@dataclass(frozen=True)
class Digits(Dataset):
    def load(self, split: str, data_dir: Path | None = None) -> Arrays:
        train, test = _digits_arrays()
        return train if split == "train" else test


register(
    Digits(
        name="digits",
        description="UCI handwritten digits, 8x8 pixels 0..16, 1,797 samples (embedded)",
        input_shape=(1, 8, 8),
        class_names=tuple(str(d) for d in range(10)),
        pixel_max=16.0,
        license="CC BY 4.0",
        source="embedded",
    )
)


TRUTH_TABLE_INPUTS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.uint8)


@dataclass(frozen=True)
class LogicGate(Dataset):
    outputs: tuple[int, ...] = field(default=(0, 0, 0, 0))

    def load(self, split: str, data_dir: Path | None = None) -> Arrays:
        return Arrays(TRUTH_TABLE_INPUTS.copy(), np.array(self.outputs, dtype=np.int64))


for _name, _outputs, _rule in [
    ("and", (0, 0, 0, 1), "1 only when both inputs are 1"),
    ("or", (0, 1, 1, 1), "1 when either input is 1"),
    ("nand", (1, 1, 1, 0), "NOT AND: 0 only when both inputs are 1"),
    ("xor", (0, 1, 1, 0), "1 when the inputs differ: not linearly separable"),
]:
    register(
        LogicGate(
            name=_name,
            description=f"{_name.upper()} truth table, 4 rows: {_rule} (embedded)",
            input_shape=(2,),
            class_names=("0", "1"),
            pixel_max=1.0,
            license="public domain",
            source="embedded",
            outputs=_outputs,
        )
    )
