"""The IDX reader refuses every malformed file with IdxError, before allocating."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlzero_cli.data.idx import IdxError, parse_idx


def idx(code: int, shape: tuple[int, ...], body: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + body


def test_reads_uint8_images_and_big_endian_ints():
    images = parse_idx(idx(0x08, (2, 2, 3), bytes(range(12))))
    assert images.shape == (2, 2, 3) and images.dtype == np.uint8
    assert images[1, 1, 2] == 11
    ints = parse_idx(idx(0x0C, (2,), struct.pack(">ii", -5, 70000)))
    assert ints.tolist() == [-5, 70000] and ints.dtype.isnative


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "dtype code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x09" + b"\x00" * 36, "9 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
        (idx(0x08, (10, 28, 28), bytes(100)), "truncated"),
        (idx(0x08, (2,), bytes(3)), "trailing bytes"),
        (idx(0x0E, (3,), bytes(16)), "truncated"),
        # A "decompression bomb" header: 2^32-1 cubed values claimed, 10 bytes given.
        (idx(0x08, (2**32 - 1,) * 3, bytes(10)), "too many to index"),
        (idx(0x08, (2**20,) * 2, bytes(10)), "truncated"),
    ],
)
def test_malformed_files_are_refused(data, message):
    with pytest.raises(IdxError, match=message):
        parse_idx(data, "sample.idx")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_crash(data):
    try:
        array = parse_idx(data)
    except IdxError:
        return
    assert array.nbytes == len(data) - 4 - 4 * data[3]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=3),
    st.integers(-3, 3),
)
def test_length_must_match_the_header_exactly(shape, delta):
    body = bytes(max(int(np.prod(shape)) + delta, 0))
    data = idx(0x08, tuple(shape), body)
    if len(body) == int(np.prod(shape)):
        assert parse_idx(data).shape == tuple(shape)
    else:
        with pytest.raises(IdxError):
            parse_idx(data)
