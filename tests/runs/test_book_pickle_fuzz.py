"""Property: any file handed to the book-pickle reader gives a dict of real-number arrays
or one DataError line; never another exception, never execution, never a hang.

Three generators, 200 examples each (600 in all, the same on every run), a 30-second
hang guard per example (see fuzz) instead of a deadline:
- a real book-style pickle (any protocol 0-5) with bytes flipped, inserted or cut;
- random opcode sequences, some naming hostile globals (os.system, builtins.exec,
  numpy.testing's runstring, ...) with a marker-file argument;
- dicts of arrays of random dtypes (every kind NumPy has) and shapes.
The file runs in about 1 s.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from dlzero_cli.errors import DataError
from dlzero_cli.pretrained import read_param_pickle


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pickle-fuzz")


def check(folder: Path, payload: bytes) -> None:
    marker = folder / "ran"
    path = folder / "w.pkl"
    path.write_bytes(payload)
    try:
        params = read_param_pickle(path)
    except DataError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        assert not re.search(r"[A-Z][a-z]+Error\b|<class|object at 0x", message), message
    else:
        assert isinstance(params, dict)
        for name, value in params.items():
            assert isinstance(name, str) and isinstance(value, np.ndarray)
            assert value.dtype.kind in "fiu" and value.dtype.fields is None
    assert not marker.exists()


BOOK_LIKE = {
    "W1": np.arange(12, dtype=np.float32).reshape(3, 4),
    "b1": np.zeros(4, np.float64),
    "W2": np.ones((4, 2), np.int16),
}


@st.composite
def damaged(draw) -> bytes:
    protocol = draw(st.integers(0, 5))
    data = bytearray(pickle.dumps(BOOK_LIKE, protocol=protocol))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


HOSTILE_GLOBALS = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "exec"),
    ("builtins", "eval"),
    ("subprocess", "check_call"),
    ("numpy.testing._private.utils", "runstring"),
    ("numpy.f2py.f2py2e", "os"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
]


@st.composite
def opcode_soup(draw, marker: str) -> bytes:
    """A protocol-2 stream of random opcodes and arguments, ending in STOP."""
    parts = [b"\x80\x02"]
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            module, name = draw(st.sampled_from(HOSTILE_GLOBALS))
            parts.append(b"c" + module.encode() + b"\n" + name.encode() + b"\n")
        elif kind == 1:
            parts.append(pickle.dumps((f"touch {marker}",), protocol=2)[2:-1])
        elif kind == 2:
            parts.append(pickle.dumps(f"open({marker!r}, 'w')", protocol=2)[2:-1])
        elif kind == 3:
            parts.append(b"q" + bytes([draw(st.integers(0, 255))]))  # BINPUT
        elif kind == 4:
            parts.append(b"r" + draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little"))
        elif kind == 5:
            parts.append(b"h" + bytes([draw(st.integers(0, 255))]))  # BINGET
        elif kind == 6:
            parts.append(draw(st.sampled_from([b"R", b"b", b"t", b"(", b"}", b"]", b"s", b"u"])))
        elif kind == 7:
            parts.append(
                b"J" + draw(st.integers(-(2**31), 2**31 - 1)).to_bytes(4, "little", signed=True)
            )
        elif kind == 8:
            size = draw(st.integers(0, 2**31))
            parts.append(b"B" + size.to_bytes(4, "little") + draw(st.binary(max_size=16)))
        else:
            parts.append(draw(st.binary(min_size=1, max_size=6)))
    parts.append(b".")
    return b"".join(parts)


DTYPES = [
    "float16", "float32", "float64", "longdouble", "int8", "int64", "uint8", "uint64",
    "bool", "complex64", "complex128", "object", "U3", "S2", "V4", "datetime64[s]",
    "timedelta64[ms]", [("a", "f4"), ("b", "i2")], ("f4", (2,)),
]  # fmt: skip


@st.composite
def typed_arrays(draw) -> bytes:
    params = {}
    for index in range(draw(st.integers(1, 3))):
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        array = np.zeros(shape, dtype=dtype)
        if dtype.kind == "O":
            array[...] = None
        params[f"W{index + 1}"] = array
    return pickle.dumps(params, protocol=draw(st.integers(0, 5)))


@fuzz(200)
@given(payload=damaged())
def test_damaged_book_pickles_load_or_give_one_line(folder, payload):
    check(folder, payload)


@fuzz(200)
@given(data=st.data())
def test_random_opcode_streams_never_run_anything(folder, data):
    payload = data.draw(opcode_soup(str(folder / "ran")))
    check(folder, payload)


@fuzz(200)
@given(payload=typed_arrays())
def test_arrays_of_every_dtype_load_only_as_real_numbers(folder, payload):
    check(folder, payload)
