"""A strict reader of the IDX format (the files MNIST and Fashion-MNIST come in).

Layout: two zero bytes, a dtype code, the number of dimensions d, then d big-endian
uint32 sizes, then the values, big-endian, row-major. The header is checked against
the actual byte length before anything is allocated, so a truncated, padded or
absurdly-dimensioned file is refused with a clear message instead of crashing or
asking for terabytes.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from dlzero_cli.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMENSIONS = 4


class IdxError(DataError):
    """A byte string that is not a well-formed IDX file."""


def _header(view: memoryview, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) of the IDX header `view` starts with."""
    if len(view) < 4:
        raise IdxError(f"{name}: {len(view)} bytes is too short for an IDX header")
    zero1, zero2, code, ndim = view[0], view[1], view[2], view[3]
    if zero1 != 0 or zero2 != 0:
        raise IdxError(f"{name}: bad magic number (first bytes {bytes(view[:4]).hex()})")
    if code not in IDX_DTYPES:
        raise IdxError(f"{name}: unknown IDX dtype code 0x{code:02x}")
    if not 1 <= ndim <= MAX_DIMENSIONS:
        raise IdxError(f"{name}: {ndim} dimensions; expected 1 to {MAX_DIMENSIONS}")
    header = 4 + 4 * ndim
    if len(view) < header:
        raise IdxError(f"{name}: truncated header ({len(view)} of {header} bytes)")
    dtype, shape = IDX_DTYPES[code], struct.unpack(f">{ndim}I", view[4:header])
    # NumPy refuses a shape whose nonzero sizes multiply past its index range, even
    # with a zero among them: (0, 2^31, 2^31) holds nothing and still cannot be made.
    if _payload_bytes(dtype, tuple(max(n, 1) for n in shape)) > np.iinfo(np.intp).max:
        raise IdxError(f"{name}: header says {'x'.join(map(str, shape))} values, too many to index")
    return dtype, shape, header


def _payload_bytes(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    # Python integers: the product cannot overflow, however absurd the sizes.
    size = dtype.itemsize
    for n in shape:
        size *= n
    return size


def _claims(dtype: np.dtype, shape: tuple[int, ...], size: int) -> str:
    return f"header says {'x'.join(map(str, shape))} values of {dtype.name} ({size:,} bytes)"


def parse_idx(data: bytes | memoryview, name: str = "IDX data") -> np.ndarray:
    """The array stored in `data`, in native byte order; IdxError if malformed."""
    view = memoryview(data)
    dtype, shape, header = _header(view, name)
    expected = _payload_bytes(dtype, shape)
    actual = len(view) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise IdxError(
            f"{name}: {kind}: {_claims(dtype, shape, expected)}, the file holds {actual:,}"
        )
    array = np.frombuffer(view, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(raw: bytes, name: str, max_bytes: int) -> np.ndarray:
    """The array of an IDX file's bytes, gzip-compressed or not, of at most `max_bytes`
    (see `inflate_idx`)."""
    return parse_idx(inflate_idx(raw, name, max_bytes), name)


def inflate_idx(raw: bytes, name: str, max_bytes: int) -> bytes:
    """The IDX bytes of a file's bytes, gzip-compressed or not, of at most `max_bytes`:
    what `read_idx` parses and the data store hashes against its pins.

    A compressed file's header is inflated first and its claimed size checked against
    `max_bytes` before the rest is inflated, and no more than the claim (plus one byte,
    to tell trailing bytes) is ever inflated: a small file claiming gigabytes is refused
    without allocating them.
    """
    if raw[:2] != GZIP_MAGIC:
        if len(raw) > max_bytes:
            raise IdxError(f"{name}: {len(raw):,} bytes, more than the {max_bytes:,} allowed")
        return raw
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        head = inflater.decompress(raw, 4 + 4 * MAX_DIMENSIONS)
        dtype, shape, header = _header(memoryview(head), name)
        expected = header + _payload_bytes(dtype, shape)
        if expected > max_bytes:
            raise IdxError(
                f"{name}: {_claims(dtype, shape, expected - header)}, more than the "
                f"{max_bytes:,} bytes allowed"
            )
        # One byte beyond the claim tells a file with trailing bytes; max_length 0
        # would mean "no limit", hence the floor of 1.
        rest = inflater.decompress(inflater.unconsumed_tail, max(1, expected + 1 - len(head)))
    except zlib.error as exc:
        raise IdxError(f"{name}: not a valid gzip file ({exc})") from None
    data = head + rest
    if len(data) <= expected and not inflater.eof:
        raise IdxError(f"{name}: truncated gzip stream")
    return data
