"""Embedded datasets and the seeded, stratified splits."""

from __future__ import annotations

import numpy as np
import pytest

from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.data.splits import carve_validation, stratified_split
from dlzero_cli.data.transforms import NORMALIZERS


def test_digits_ships_with_the_package_as_uint8():
    digits = DATASETS.get("digits")
    train, test = digits.load("train"), digits.load("test")
    assert (len(train), len(test)) == (1438, 359)
    assert train.x.dtype == np.uint8 and train.x.shape[1:] == (1, 8, 8)
    assert train.x.max() == 16 and train.y.dtype == np.int64
    both = np.concatenate([train.y, test.y])
    assert np.bincount(both).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # Stratified: every class is 20% +- one sample of the test split.
    counts = np.bincount(test.y)
    assert np.all(np.abs(counts - np.bincount(both) * 0.2) <= 1)


@pytest.mark.parametrize(
    ("gate", "outputs"),
    [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("nand", [1, 1, 1, 0]), ("xor", [0, 1, 1, 0])],
)
def test_logic_gate_tables(gate, outputs):
    table = DATASETS.get(gate).load("train")
    np.testing.assert_array_equal(table.x, [[0, 0], [1, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(table.y, outputs)


def test_stratified_split_is_seeded_and_proportional():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    kept, held = stratified_split(labels, 0.1, np.random.default_rng(5))
    again = stratified_split(labels, 0.1, np.random.default_rng(5))
    np.testing.assert_array_equal(held, again[1])
    assert np.bincount(labels[held]).tolist() == [4, 3, 2, 1]
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(100))


def test_validation_by_count_and_refusal_to_take_everything():
    data = Arrays(np.arange(20, dtype=np.uint8).reshape(10, 2), np.array([0, 1] * 5))
    train, val = carve_validation(data, 4, split_seed=0)
    assert (len(train), len(val)) == (6, 4)
    assert carve_validation(data, 0, split_seed=0)[1] is None
    with pytest.raises(ValueError, match="leave none to train on"):
        carve_validation(data, 10, split_seed=0)


def test_normalizers_scale_per_batch_in_the_requested_dtype():
    x = np.array([[0, 8, 16]], dtype=np.uint8)
    scaled = NORMALIZERS.get("scale")(16)(x, np.dtype(np.float32))
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0, 0.5, 1.0]])
    standardize = NORMALIZERS.get("standardize")(16)
    batch = np.array([[0, 4, 7], [16, 4, 9]], dtype=np.uint8)
    standardize.fit(batch)
    out = standardize(batch, np.dtype(np.float64))
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], 0)  # a constant column stays finite
