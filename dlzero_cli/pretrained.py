"""The book's pretrained parameters: a restricted unpickler and the mapping onto layers.

The book ships its trained networks as pickled dicts of NumPy arrays (`W1`, `b1`, ...).
A pickle can run arbitrary code when loaded, so these files are read with an
unpickler that can construct only what such a dict needs (ndarray, dtype, NumPy
scalars) and refuses every other global before anything runs.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path

import numpy as np

from dlzero_cli.config.schema import kind_of, shown
from dlzero_cli.engine.network import Sequential
from dlzero_cli.errors import DataError, describe_exception

try:  # NumPy 2 moved the pickling helpers to numpy._core; 1.x pickles name numpy.core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

MAX_PICKLE_BYTES = 512 * 1024 * 1024
# The book's files hold a few hundred opcodes; a file of millions is not one of them.
MAX_OPCODES = 1_000_000
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}

# The dtype kinds a weight may have: floating point, signed and unsigned integers.
_REAL_KINDS = "fiu"
_KIND_WORDS = {
    "b": "true/false values",
    "c": "complex numbers",
    "O": "Python objects",
    "S": "bytes",
    "U": "text",
    "V": "records (a structured array)",
    "M": "dates",
    "m": "time spans",
}


class _NdarrayClass:
    """What a pickle gets for the global numpy.ndarray: a token that `_reconstruct`
    accepts as the class, and that cannot be called (numpy.ndarray((10**10,)) would
    allocate whatever the file asks for)."""


_NDARRAY = _NdarrayClass()


def _reconstruct(cls, shape, typecode):
    """ndarray's pickle constructor, limited to the empty shell it always starts with.

    Pickled arrays are rebuilt as `_reconstruct(ndarray, (0,), b'b')` and then filled
    from the bytes in the file; refusing other shapes keeps a crafted file from asking
    for a huge allocation here.
    """
    if cls is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError("unexpected array construction")
    return _multiarray._reconstruct(np.ndarray, shape, typecode)


def _scalar(dtype, data=None):
    """A NumPy scalar from its dtype and exactly its bytes (nothing else is built)."""
    if (
        not isinstance(dtype, np.dtype)
        or dtype.kind not in _REAL_KINDS
        or not isinstance(data, bytes)
        or len(data) != dtype.itemsize
    ):
        raise pickle.UnpicklingError("unexpected scalar construction")
    return _multiarray.scalar(dtype, data)


def _frombuffer(buffer, dtype, shape, order):
    """Protocol-5 pickles rebuild arrays from a buffer whose size fixes the array's."""
    if not isinstance(dtype, np.dtype) or order not in ("C", "F"):
        raise pickle.UnpicklingError("unexpected array construction")
    return np.frombuffer(memoryview(buffer), dtype=dtype).reshape(shape, order=order).copy()


def _encode(text, encoding="latin1"):
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("unexpected _codecs.encode call")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle asked for a class or function outside the allowed few."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts of NumPy arrays and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(
                f"refused to load {module}.{name}: only dicts of NumPy arrays are accepted"
            ) from None


def _check_opcodes(data: bytes) -> None:
    """Read the opcodes without running any (pickletools): a memo index far beyond the
    objects stored so far would make the C unpickler grow its memo table to that index
    and zero it, so a 10-byte file could take gigabytes. Refused here, as are files of
    more than MAX_OPCODES opcodes."""
    for count, (opcode, arg, _) in enumerate(pickletools.genops(data)):
        if count > MAX_OPCODES:
            raise pickle.UnpicklingError(f"more than {MAX_OPCODES:,} opcodes")
        if opcode.name in _PUTS and not 0 <= int(arg) <= count:
            raise pickle.UnpicklingError(f"memo index {arg} at opcode {count}")


def read_param_pickle(path: Path) -> dict[str, np.ndarray]:
    """A pickled {name: ndarray} dict, read with RestrictedUnpickler."""
    try:
        size = path.stat().st_size
        if size > MAX_PICKLE_BYTES:
            raise DataError(f"{path}: {size:,} bytes is too large for a parameter file")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        _check_opcodes(data)
        params = RestrictedUnpickler(io.BytesIO(data)).load()
    except RefusedGlobal as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # a malformed pickle can fail in many ways; none may crash us
        reason = describe_exception(exc, "damaged")
        raise DataError(f"{path}: not a readable pickle ({reason})") from None
    if not isinstance(params, dict):
        raise DataError(f"{path}: expected a dict of name -> NumPy array, got {kind_of(params)}")
    for name, value in params.items():
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise DataError(
                f"{path}: expected a dict of name -> NumPy array, but {shown(name)} holds "
                f"{kind_of(value)}"
            )
        if value.dtype.kind not in _REAL_KINDS or value.dtype.fields is not None:
            what = _KIND_WORDS.get(value.dtype.kind, str(value.dtype))
            raise DataError(
                f"{path}: {name} is an array of {what} ({value.dtype}); weights must be "
                "real numbers (a floating-point or integer array)"
            )
    return params


def book_names(network: Sequential) -> dict[str, str]:
    """Our parameter names -> the book's: the k-th layer with parameters owns W{k}, b{k}."""
    names = {}
    index = 0
    for position, layer in enumerate(network.layers):
        if not layer.params:
            continue
        index += 1
        for param in layer.params:
            names[f"{position}.{param}"] = f"{param}{index}"
    return names


def load_book_params(network: Sequential, params: dict[str, np.ndarray], source: str) -> None:
    """Copy the book's arrays into `network` (in its dtype), checking names and shapes."""
    mapping = book_names(network)
    expected = set(mapping.values())
    missing = sorted(expected - set(params))
    extra = sorted(set(params) - expected)
    if missing or extra:
        raise DataError(
            f"{source}: holds {', '.join(sorted(params)) or 'no arrays'}; the config's layers need "
            f"{', '.join(sorted(expected))}"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + (f" (unexpected {', '.join(extra)})" if extra else "")
        )
    ours = network.named_params()
    for name, book_name in mapping.items():
        value, target = params[book_name], ours[name]
        if value.shape != target.shape:
            raise DataError(
                f"{source}: {book_name} has shape {value.shape}, but the config's layer "
                f"{name.split('.')[0]} needs {target.shape}"
            )
        if not np.all(np.isfinite(value)):
            raise DataError(f"{source}: {book_name} contains NaN or infinite values")
        largest = float(np.abs(value).max()) if value.size else 0.0
        if largest > float(np.finfo(target.dtype).max):  # refused before the cast overflows
            raise DataError(
                f"{source}: {book_name} holds values up to {largest:.3g}, beyond "
                f"{target.dtype}'s range: they would not be finite"
            )
        target[...] = value.astype(target.dtype)
