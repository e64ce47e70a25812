"""One reader of .npy headers (data/npy.py) for the data cache and predict's inputs, and
one bounded IDX inflate (data/idx.py) for the store and predict: a header the one
refuses, the other refuses too, and no second reader grows back."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

import dlzero_cli
from dlzero_cli.data.npy import NpyError, read_npy_header
from dlzero_cli.data.store import _npy_array
from dlzero_cli.errors import InputError
from dlzero_cli.inputs import read_npy

PACKAGE = Path(dlzero_cli.__file__).parent


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_the_header_is_read_and_the_file_left_at_the_payload():
    data = npy(np.arange(6, dtype=np.int16).reshape(2, 3))
    stream = io.BytesIO(data)
    header = read_npy_header(stream, "x.npy")
    assert (header.shape, header.fortran_order, header.dtype) == ((2, 3), False, np.int16)
    assert (header.values, header.nbytes, header.offset) == (6, 12, stream.tell())
    assert header.offset + header.nbytes == len(data)


def _with_header(text: str, version: int = 1) -> bytes:
    text = text.ljust(118) + "\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()
    return b"\x93NUMPY\x02\x00" + len(text).to_bytes(4, "little") + text.encode()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not an npy file at all", "not a .npy file, or its header is damaged"),
        (b"\x93NUMPY\x03\x00" + bytes(20), r"\.npy format version 3\.0 is not supported"),
        (_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3), }"),
         r"shape \(-2, 3\) has a negative size"),
        (_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,"),
         "header is damaged"),
        (_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 2)
         + bytes(8), None),
    ],
)  # fmt: skip
def test_the_cache_and_predict_refuse_the_same_headers(data, message):
    if message is None:  # a good version 2.0 header over too few bytes
        assert read_npy_header(io.BytesIO(data), "x.npy").shape == (2,)
        assert _npy_array(data) is None
        with pytest.raises(InputError, match="truncated or damaged"):
            read_npy(io.BytesIO(data), len(data), "x.npy")
        return
    with pytest.raises(NpyError, match=message):
        read_npy_header(io.BytesIO(data), "x.npy")
    assert _npy_array(data) is None
    with pytest.raises(InputError, match=message):
        read_npy(io.BytesIO(data), len(data), "x.npy")


def test_the_cache_reads_its_own_arrays_without_copying():
    data = npy(np.arange(12, dtype=np.uint8).reshape(3, 4))
    array = _npy_array(data)
    assert array is not None and array.shape == (3, 4) and not array.flags.owndata
    assert _npy_array(npy(np.asfortranarray(np.ones((2, 3))))) is None


def test_one_npy_header_reader_and_one_idx_inflate_in_the_package():
    """numpy's header readers are called in data/npy.py only, and gzip streams of IDX
    files are inflated in data/idx.py only (the store once had its own of each)."""
    npy_readers, inflaters = set(), set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(PACKAGE).as_posix()
        if re.search(r"read_array_header_|read_magic\(", text):
            npy_readers.add(relative)
        if re.search(r"decompressobj\(|gzip\.decompress\(", text) and "idx" in text.lower():
            inflaters.add(relative)
    assert npy_readers == {"data/npy.py"}
    assert inflaters == {"data/idx.py"}
