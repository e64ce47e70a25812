"""Gates the planted-bug audit found unguarded (issue 12, section 8): the IDX header's
second zero byte, and stratified hold-out quotas with remainders."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from dlzero_cli.data.datasets import Arrays
from dlzero_cli.data.idx import IdxError, parse_idx, read_idx
from dlzero_cli.data.splits import carve_validation, stratified_split


def idx(first: int, second: int) -> bytes:
    return bytes([first, second, 0x08, 1]) + struct.pack(">I", 3) + bytes([1, 2, 3])


@pytest.mark.parametrize(("first", "second"), [(0, 1), (0, 0x80), (0, 0xFF), (1, 0), (0xFF, 0)])
def test_an_idx_header_with_either_magic_byte_nonzero_is_refused(first, second):
    """A check that ignores the second byte (or the first) accepts these: it must not."""
    data = idx(first, second)
    for read in (lambda: parse_idx(data, "x.idx"), lambda: read_idx(data, "x.idx", 1 << 20),
                 lambda: read_idx(gzip.compress(data), "x.idx.gz", 1 << 20)):  # fmt: skip
        with pytest.raises(
            IdxError, match=f"bad magic number \\(first bytes {first:02x}{second:02x}"
        ):
            read()
    assert parse_idx(idx(0, 0)).tolist() == [1, 2, 3]  # the same file with both zero


def quotas(labels: np.ndarray, held: np.ndarray) -> list[int]:
    return np.bincount(labels[held], minlength=labels.max() + 1).tolist()


@pytest.mark.parametrize("holdout", [4, 4 / 30])
def test_quotas_with_remainders_follow_the_largest_remainders(holdout):
    """Classes of 15, 10 and 5 holding out 4: exact shares 2, 1.33 and 0.67, so floors
    2, 1, 0 and the one left over to the largest remainder (0.67): 2, 1, 1."""
    labels = np.repeat([0, 1, 2], [15, 10, 5])
    for seed in range(5):
        kept, held = stratified_split(labels, holdout, np.random.default_rng(seed))
        assert quotas(labels, held) == [2, 1, 1]
        assert sorted(np.concatenate([kept, held]).tolist()) == list(range(30))


def test_quotas_do_not_depend_on_which_class_is_which():
    labels = np.repeat([0, 1, 2], [5, 10, 15])  # the same sizes the other way round
    _, held = stratified_split(labels, 4, np.random.default_rng(0))
    assert quotas(labels, held) == [1, 1, 2]
    shuffled = np.random.default_rng(1).permutation(np.repeat([0, 1, 2], [15, 10, 5]))
    _, held = stratified_split(shuffled, 4, np.random.default_rng(0))
    assert quotas(shuffled, held) == [2, 1, 1]


@pytest.mark.parametrize(
    ("sizes", "holdout", "expected"),
    [
        ((15, 10, 5), 1, [1, 0, 0]),  # 0.5, 0.33, 0.17
        ((15, 10, 5), 2, [1, 1, 0]),  # 1, 0.67, 0.33
        ((15, 10, 5), 29, [14, 10, 5]),  # 14.5, 9.67, 4.83: the two left to 0.83 and 0.67
        ((7, 7, 7), 4, [2, 1, 1]),  # equal remainders: the first classes first
        ((1, 1, 98), 10, [0, 0, 10]),
        ((3, 3), 3, [2, 1]),  # 1.5 and 1.5: rounding each would hold out 4
    ],
)
def test_quotas_on_more_remainders(sizes, holdout, expected):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    _, held = stratified_split(labels, holdout, np.random.default_rng(0))
    assert quotas(labels, held) == expected


def test_the_validation_carve_out_uses_the_same_quotas():
    labels = np.repeat([0, 1, 2], [15, 10, 5])
    data = Arrays(np.arange(30, dtype=np.uint8).reshape(30, 1), labels)
    train, val = carve_validation(data, 4, split_seed=3)
    assert np.bincount(val.y).tolist() == [2, 1, 1]
    assert np.bincount(train.y).tolist() == [13, 9, 4]
