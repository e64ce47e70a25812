"""Fuzzing predict's readers of untrusted bytes: .npy files and images.

Every example must end in a prediction-ready array or one InputError line: never another
exception (a traceback), never a warning on the terminal, never a hang (a 30-second
guard per example, see fuzz). Examples: 300 .npy headers, 150 truncated .npy payloads, 300
images from random bytes behind a PNG/JPEG/BMP/GIF magic, 200 images with well-formed
small headers claiming random (up to huge) sizes: 950 in all.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from dlzero_cli.errors import InputError
from dlzero_cli.imaging import open_gray, to_model_input
from dlzero_cli.inputs import InputSpec, read_inputs, read_npy

SPEC = InputSpec((1, 28, 28), 255.0)

DESCRS = ["<f8", "<f4", "|u1", "<i8", ">i4", "|b1", "<c16", "|O", "<U3", "|S2", "<M8[D]",
          "|V8", "<f2", "float64", "xx", "", "<f99"]  # fmt: skip
shapes = st.one_of(
    st.tuples(),
    st.lists(st.integers(-5, 30), max_size=4).map(tuple),
    st.lists(st.integers(0, 2**63), min_size=1, max_size=3).map(tuple),
)
header_values = st.one_of(st.sampled_from(DESCRS), st.integers(), st.none(), st.text(max_size=8))


def single_line(error: InputError) -> None:
    text = str(error)
    assert text and "\n" not in text and " at 0x" not in text, text


def raw_npy(header_text: str, version: int, payload: bytes) -> bytes:
    body = header_text.encode("latin1", "replace")
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body) % 65536) + body + payload
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(body)) + body + payload


def read_all(data: bytes):
    """What `predict RUN -` does with these bytes, and read_npy directly."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good, problems = read_inputs(["-"], SPEC, data)
    for problem in problems:
        assert problem.line and "\n" not in problem.line and " at 0x" not in problem.line
    for samples in good:
        assert np.all(np.isfinite(samples.x)) and samples.x.shape[1:] == (1, 28, 28)
    return good, problems


@fuzz(300)
@given(
    descr=header_values,
    fortran=st.one_of(st.booleans(), st.integers(0, 2), st.none()),
    shape=st.one_of(shapes, header_values),
    extra=st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    version=st.sampled_from([1, 2]),
    payload=st.binary(max_size=64),
    as_repr=st.booleans(),
)
def test_npy_headers(descr, fortran, shape, extra, version, payload, as_repr):
    header = {"descr": descr, "fortran_order": fortran, "shape": shape, **extra}
    text = repr(header) if as_repr else str(header).replace("'", "")
    data = raw_npy(text.ljust(60) + "\n", version, payload)
    try:
        array = read_npy(io.BytesIO(data), len(data), "x.npy")
    except InputError as exc:
        single_line(exc)
    else:
        assert array.dtype == np.float64
    read_all(data)


@fuzz(150)
@given(
    dtype=st.sampled_from(["<f8", "<f4", "|u1", ">i2", "|b1"]),
    rows=st.integers(0, 3),
    cut=st.integers(0, 6400),
)
def test_truncated_npy_payloads(dtype, rows, cut):
    buffer = io.BytesIO()
    np.save(buffer, np.ones((rows, 784), dtype=dtype))
    data = buffer.getvalue()[: max(10, len(buffer.getvalue()) - cut)]
    try:
        array = read_npy(io.BytesIO(data), len(data), "x.npy")
    except InputError as exc:
        single_line(exc)
    else:
        assert array.shape == (rows, 784)
    read_all(data)


MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff", b"BM", b"GIF89a",
          b"GIF87a"]  # fmt: skip


@fuzz(300)
@given(magic=st.sampled_from(MAGICS), rest=st.binary(max_size=400))
def test_random_bytes_behind_an_image_magic(magic, rest):
    read_all(magic + rest)


def png(width, height, depth, colour, rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def bmp(width, height, bits, pixels: bytes) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + info + pixels


def gif(width, height, body: bytes) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + image + b"\x02" + body + b"\x00\x3b"


sizes = st.one_of(
    st.integers(0, 64), st.integers(0, 70000), st.sampled_from([2**31 - 1, 2**32 - 1])
)


@fuzz(200)
@given(
    kind=st.sampled_from(["png", "bmp", "gif"]),
    width=sizes,
    height=sizes,
    depth=st.sampled_from([1, 2, 4, 8, 16, 3]),
    colour=st.sampled_from([0, 2, 3, 4, 6, 5]),
    body=st.binary(max_size=200),
)
def test_small_headers_claiming_any_size(kind, width, height, depth, colour, body):
    if kind == "png":
        data = png(width, height, depth, colour, body)
    elif kind == "bmp":
        data = bmp(min(width, 2**31 - 1), min(height, 2**31 - 1), depth * 8 % 33 or 24, body)
    else:
        data = gif(min(width, 65535), min(height, 65535), body)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gray = open_gray(data, "picture")
            to_model_input(gray, (1, 28, 28), 255.0, "auto", "picture")
    except InputError as exc:
        single_line(exc)
    read_all(data)
