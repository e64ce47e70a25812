"""The one reader of .npy headers: the data cache's arrays and predict's inputs.

Only the header is read here (magic, version 1.0 or 2.0, the dict NumPy writes, parsed
by NumPy's literal parser: nothing is unpickled). What an array may be and how big is
the caller's to decide, from `NpyHeader`, before it reads a byte of the payload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from dlzero_cli.errors import DataError

NPY_MAGIC = b"\x93NUMPY"
NPY_MAX_HEADER = 10_000  # numpy's own default for untrusted headers
_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}


class NpyError(DataError):
    """Bytes that do not start with a readable .npy header."""


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int  # where the payload starts, from the start of the file

    @property
    def values(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """What the payload claims to hold (Python integers: no overflow)."""
        return self.values * self.dtype.itemsize


def read_npy_header(file: BinaryIO, name: str) -> NpyHeader:
    """The header `file` starts with, leaving `file` at the payload; NpyError if it is
    not a .npy header of version 1.0 or 2.0, is damaged, or claims a negative size."""
    start = file.tell()
    try:
        version = npy_format.read_magic(file)
        reader = _READERS.get(version)
        if reader is None:
            raise NpyError(
                f"{name}: .npy format version {version[0]}.{version[1]} is not supported"
            )
        shape, fortran_order, dtype = reader(file, max_header_size=NPY_MAX_HEADER)
    except NpyError:
        raise
    except Exception:  # noqa: BLE001  numpy parses the untrusted header text; it raises
        # ValueError, SyntaxError, tokenize.TokenError, ... whatever the damage is.
        raise NpyError(f"{name}: not a .npy file, or its header is damaged") from None
    if any(dim < 0 for dim in shape):
        raise NpyError(f"{name}: the header's shape {shape} has a negative size")
    return NpyHeader(tuple(shape), bool(fortran_order), dtype, file.tell() - start)
