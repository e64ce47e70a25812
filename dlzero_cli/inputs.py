"""Reading `predict` inputs into raw-scale sample arrays.

An INPUT is a `.npy` file (one sample or a batch), a `.csv` file (one sample per row),
or a literal row of comma-separated numbers such as `1,0`. Values are in the dataset's
raw scale (0..16 for digits, 0..255 for MNIST): the model applies its own
normalisation. `.npy` files are read with allow_pickle=False.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.errors import InputError

LITERAL_ROW = re.compile(r"^\s*[-+]?[\d.]+(e[-+]?\d+)?(\s*,\s*[-+]?[\d.]+(e[-+]?\d+)?)*\s*$", re.I)


@dataclass(frozen=True)
class Samples:
    """Samples read from one INPUT, each with a name for the output (`file[i]`)."""

    names: list[str]
    x: np.ndarray  # (N, *input_shape), float64 in raw scale


def read_input(arg: str, input_shape: tuple[int, ...]) -> Samples:
    path = Path(arg)
    if path.is_file():
        readers = {".npy": _read_npy, ".csv": _read_csv}
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise InputError(
                f"{arg}: unsupported input type {path.suffix or '(no extension)'!r}; "
                f"give a .npy or .csv file or a row like 1,0"
            )
        array = reader(path)
    elif LITERAL_ROW.match(arg):
        array = np.array([float(v) for v in arg.split(",")], dtype=np.float64)
    elif path.is_dir():
        raise InputError(f"{arg}: is a folder; give .npy or .csv files")
    else:
        raise InputError(f"{arg}: no such file, and not a row of numbers like 1,0")
    return _as_samples(arg, array, input_shape)


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{path}: not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: unreadable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path}: holds several arrays (.npz); give one .npy array")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InputError(f"{path}: array of {array.dtype}, expected numbers")
    return array.astype(np.float64)


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable text file ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([float(v) for v in line.split(",")])
        except ValueError:
            raise InputError(f"{path}:{number}: not a row of comma-separated numbers") from None
    if not rows:
        raise InputError(f"{path}: empty; expected one sample per row")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise InputError(f"{path}: rows have different lengths {sorted(widths)}")
    return np.array(rows, dtype=np.float64)


def _as_samples(arg: str, array: np.ndarray, input_shape: tuple[int, ...]) -> Samples:
    """One sample is any array of exactly the model's input size (64 values, or 8x8);
    a batch is N such samples along the first axis."""
    size = int(np.prod(input_shape))
    if array.size == size:
        batch = array.reshape(1, *input_shape)
        names = [arg]
    elif array.ndim >= 2 and array.shape[0] > 0 and array.size == array.shape[0] * size:
        batch = array.reshape(array.shape[0], *input_shape)
        names = [f"{arg}[{i}]" for i in range(batch.shape[0])]
    else:
        shape = "x".join(map(str, input_shape))
        raise InputError(
            f"{arg}: shape {array.shape} does not fit the model's input {shape} "
            f"({size} values); give one sample or a batch (N, {size})"
        )
    if not np.all(np.isfinite(batch)):
        raise InputError(f"{arg}: contains NaN or infinite values")
    return Samples(names, batch)
