"""Fuzzing the IDX reader and the dataset folder (issue 12, "How it is checked").

Every input gives an array or one IdxError/DataError line: never another exception,
never a hang (a 30-second guard per example, far above the few milliseconds an example
takes; see fuzz), never a big allocation (tracemalloc's peak is bounded by the limit
the reader is given, not by what a header claims).

Examples per run: 600 IDX files (random magic bytes, dtype codes, dimension counts and
sizes up to 2^32-1, bodies exact, short or long, cut anywhere, half of them gzipped and
some of those cut), 150 raw dataset files of random bytes, 150 damaged cache records;
plus fixed gzip bombs. The three big ones are marked slow (seconds each).
"""

from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import warnings

import numpy as np
import pytest
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from dlzero_cli.data.idx import IDX_DTYPES, IdxError, parse_idx, read_idx
from dlzero_cli.errors import DataError, DlzeroWarning

LIMIT = 1 << 20  # bytes the reader may produce in these tests


sizes = st.one_of(
    st.integers(0, 8),
    st.sampled_from([60_000, 2**20, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)


@st.composite
def idx_files(draw) -> bytes:
    zero = st.one_of(st.just(0), st.integers(0, 255))
    code = draw(st.one_of(st.sampled_from(sorted(IDX_DTYPES)), st.integers(0, 255)))
    ndim = draw(st.one_of(st.integers(1, 4), st.integers(0, 255)))
    dims = draw(st.lists(sizes, max_size=min(ndim, 6)))  # fewer than ndim: cut header
    header = bytes([draw(zero), draw(zero), code, ndim]) + b"".join(
        struct.pack(">I", d) for d in dims
    )
    itemsize = IDX_DTYPES[code].itemsize if code in IDX_DTYPES else 1
    claimed = itemsize * int(np.prod(dims, dtype=object)) if dims else 0
    length = claimed if claimed <= 4096 else draw(st.integers(0, 64))
    length = max(0, length + draw(st.sampled_from([0, 0, 0, -1, 1, -3, 5])))
    body = (draw(st.binary(max_size=32)) + bytes(length))[:length]
    data = header + body
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
        if draw(st.integers(0, 3)) == 0:
            data = data[: draw(st.integers(0, len(data)))]
    return data


def read_measured(data: bytes):
    """(array or IdxError, peak bytes allocated while reading)."""
    tracemalloc.start()
    try:
        try:
            outcome = read_idx(data, "fuzz.idx", LIMIT)
        except IdxError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow  # a few seconds: hundreds of examples
@fuzz(600)
@given(idx_files())
def test_any_idx_file_is_an_array_or_one_line(data):
    outcome, peak = read_measured(data)
    if isinstance(outcome, IdxError):
        message = str(outcome)
        assert message.startswith("fuzz.idx: ") and "\n" not in message
    else:
        assert outcome.nbytes <= LIMIT and outcome.dtype.isnative
        assert outcome.dtype in {dtype.newbyteorder("=") for dtype in IDX_DTYPES.values()}
    # Input, at most LIMIT inflated plus one byte-swapped copy, and change.
    assert peak <= 2 * LIMIT + 4 * len(data) + (1 << 16), f"{peak:,} bytes allocated"


@fuzz(150)
@given(idx_files())
def test_plain_files_read_the_same_as_the_strict_parser(data):
    if data[:2] == b"\x1f\x8b" or len(data) > LIMIT:
        return
    try:
        expected = parse_idx(data, "fuzz.idx")
    except IdxError as exc:
        with pytest.raises(IdxError) as got:
            read_idx(data, "fuzz.idx", LIMIT)
        assert str(got.value) == str(exc)
    else:
        np.testing.assert_array_equal(read_idx(data, "fuzz.idx", LIMIT), expected)


@pytest.mark.parametrize(
    ("claim", "inflated", "message"),
    [
        # 1 GB claimed (16 MB of zeros given, in a 16 kB gzip): refused from the header.
        ((1000, 1000, 1000), 0, "more than the 1,048,576 bytes allowed"),
        ((2**32 - 1,) * 4, 0, "too many to index"),
        ((0, 2**32 - 1, 2**32 - 1), 0, "too many to index"),  # found by the fuzzer below
        # A small claim followed by 64 MB of zeros: no more than the claim is inflated.
        ((4, 4), 64 << 20, "has trailing bytes"),
    ],
)
def test_gzip_bombs_are_refused_without_inflating_them(claim, inflated, message):
    header = bytes([0, 0, 0x08, len(claim)]) + struct.pack(f">{len(claim)}I", *claim)
    body = bytes(min(int(np.prod(claim, dtype=object)), 1 << 24) if not inflated else inflated)
    bomb = gzip.compress(header + body, compresslevel=1, mtime=0)
    outcome, peak = read_measured(bomb)
    assert isinstance(outcome, IdxError) and message in str(outcome)
    assert peak <= 4 * len(bomb) + (1 << 20)


def test_a_well_formed_gzipped_file_reads_back():
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    data = bytes([0, 0, 0x0C, 3]) + struct.pack(">3I", 2, 3, 4) + array.tobytes()
    np.testing.assert_array_equal(read_idx(gzip.compress(data), "x", LIMIT), array)
    np.testing.assert_array_equal(read_idx(data, "x", LIMIT), array)


# --------------------------------------------------------------------------- dataset folder


@pytest.mark.slow  # a few seconds: hundreds of examples
@fuzz(150)
@given(st.one_of(st.binary(max_size=400), idx_files()))
def test_a_raw_dataset_file_of_any_bytes_is_one_data_error(tiny, tmp_path_factory, data):
    data_dir = tmp_path_factory.mktemp("data")
    folder = tiny.install(data_dir, ("test",))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(data)
    with pytest.raises(DataError) as info:
        tiny.dataset.load("test", data_dir)
    assert "\n" not in str(info.value) and "--force" in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@pytest.mark.slow  # a few seconds: hundreds of examples
@fuzz(150)
@given(
    key=st.sampled_from(["format", "file", "raw_sha256", "payload_sha256", "npy_sha256",
                         "npy_size", None]),
    value=json_values,
    npy_cut=st.one_of(st.none(), st.integers(0, 300)),
)  # fmt: skip
def test_a_damaged_cache_record_or_array_is_rebuilt_never_trusted(
    tiny, tmp_path_factory, key, value, npy_cut
):
    data_dir = tmp_path_factory.mktemp("data")
    folder = tiny.install(data_dir, ("test",))
    record_path = folder / ".cache" / "t10k-labels-idx1-ubyte.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps(value if key is None else {**record, key: value}))
    if npy_cut is not None:
        npy = record_path.with_suffix(".npy")
        npy.write_bytes(npy.read_bytes()[:npy_cut])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlzeroWarning)  # "rebuilt it", or nothing
        test = tiny.dataset.load("test", data_dir)
    assert test.y.tolist() == [0, 1, 2, 0, 1, 2]
    assert tiny.dataset.folder(data_dir).is_verified(tiny.dataset.files["test"][1])


def test_predict_refuses_a_gzipped_idx_claiming_too_much_from_its_header(cli, train_run, tmp_path):
    """`predict RUN file-ubyte.gz` goes through read_idx: the claim is refused before
    the 16 MB of zeros behind it are inflated, in one line."""
    train_run("xor-2-4-1", "--epochs", "1")
    claim = (2**30, 2)  # 2 GiB of uint8: over predict's 1 GiB limit
    header = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", *claim)
    bomb = tmp_path / "bomb-ubyte.gz"
    bomb.write_bytes(gzip.compress(header + bytes(1 << 24), compresslevel=1, mtime=0))
    tracemalloc.start()
    try:
        result = cli("predict", "latest", str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "1073741824x2 values of uint8" in line and "more than the" in line
    assert peak < 8 << 20, f"{peak:,} bytes allocated"
