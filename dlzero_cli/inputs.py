"""Reading `predict` inputs into raw-scale samples of the model's input shape.

An INPUT is an image (PNG, JPEG, BMP, GIF: preprocessed the way the model's dataset
was made, see imaging.py), a folder of such files, a `.npy` array (one sample or a
batch), an IDX file (`*-ubyte`, `.idx`, optionally `.gz`), a `.csv` file (one sample per
row), a literal row of numbers such as `1,0`, or `-` for a `.npy` array or an image on
standard input. Arrays are taken in the dataset's raw scale (0..255 for MNIST, 0..16
for digits); the model applies its own normalisation. Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.data.idx import IdxError, read_idx
from dlzero_cli.errors import InputError
from dlzero_cli.imaging import IMAGE_SUFFIXES, open_gray, to_model_input

LITERAL_ROW = re.compile(r"^\s*[-+]?[\d.]+(e[-+]?\d+)?(\s*,\s*[-+]?[\d.]+(e[-+]?\d+)?)*\s*$", re.I)
NPY_MAGIC = b"\x93NUMPY"
MAX_IDX_BYTES = 1 << 30
ARRAY_SUFFIXES = (".npy", ".csv")


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: one sample's shape and the raw scale's maximum."""

    shape: tuple[int, ...]
    pixel_max: float
    invert: str = "auto"


@dataclass(frozen=True)
class Samples:
    """Samples read from one INPUT, each with a name for the output (`file[i]`)."""

    names: list[str]
    x: np.ndarray  # (N, *shape), float64 in raw scale


def is_idx_name(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith("ubyte") or name.endswith(".idx")


def read_inputs(
    args: list[str], spec: InputSpec, stdin: bytes | None = None
) -> tuple[list[Samples], list[str]]:
    """The samples of every readable input, and one error line per unreadable one.

    A folder contributes each supported file in it (sorted by name); a bad file in a
    folder is reported on its own and does not spoil the others.
    """
    good: list[Samples] = []
    errors: list[str] = []
    for arg in args:
        try:
            targets = _expand(arg)
        except InputError as exc:
            errors.append(str(exc))
            continue
        for target in targets:
            try:
                good.append(_read_one(target, arg, spec, stdin))
            except InputError as exc:
                errors.append(str(exc))
    return good, errors


def _expand(arg: str) -> list[Path | str]:
    if arg == "-" or (LITERAL_ROW.match(arg) and not Path(arg).exists()):
        return [arg]
    path = Path(arg)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _supported(p))
        if not files:
            raise InputError(f"{arg}: no images, .npy, .csv or IDX files in this folder")
        return list(files)
    if path.is_file():
        return [path]
    raise InputError(f"{arg}: no such file or folder, and not a row of numbers like 1,0")


def _read_one(target: Path | str, arg: str, spec: InputSpec, stdin: bytes | None) -> Samples:
    if isinstance(target, Path):
        return read_file(target, arg if target == Path(arg) else str(target), spec)
    if target == "-":
        if stdin is None:
            raise InputError("-: nothing on standard input")
        return _from_bytes("-", stdin, spec)
    row = np.array([float(v) for v in target.split(",")], dtype=np.float64)
    return _as_samples(target, row, spec.shape)


def _supported(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in ARRAY_SUFFIXES or is_idx_name(path)


def read_file(path: Path, name: str, spec: InputSpec) -> Samples:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        image = to_model_input(open_gray(path, name), spec.shape, spec.pixel_max, spec.invert, name)
        return Samples([name], image[np.newaxis])
    if suffix == ".npy":
        return _as_samples(name, _read_npy(_read_bytes(path, name), name), spec.shape)
    if suffix == ".csv":
        return _as_samples(name, _read_csv(path, name), spec.shape)
    if is_idx_name(path):
        return _as_samples(name, _read_idx(_read_bytes(path, name), name), spec.shape)
    raise InputError(
        f"{name}: unsupported input type {suffix or '(no extension)'!r}; give an image "
        f"({', '.join(IMAGE_SUFFIXES)}), .npy, .csv or IDX file, or a row like 1,0"
    )


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from None


def _from_bytes(name: str, data: bytes, spec: InputSpec) -> Samples:
    """Standard input: a .npy array if it starts like one, else an image."""
    if data.startswith(NPY_MAGIC):
        return _as_samples(name, _read_npy(data, name), spec.shape)
    image = to_model_input(open_gray(data, name), spec.shape, spec.pixel_max, spec.invert, name)
    return Samples([name], image[np.newaxis])


def _read_npy(data: bytes, name: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{name}: not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{name}: unreadable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{name}: holds several arrays (.npz); give one .npy array")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InputError(f"{name}: array of {array.dtype}, expected numbers")
    return array.astype(np.float64)


def _read_idx(data: bytes, name: str) -> np.ndarray:
    try:
        return read_idx(data, name, MAX_IDX_BYTES).astype(np.float64)
    except IdxError as exc:
        raise InputError(str(exc)) from None


def _read_csv(path: Path, name: str) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: unreadable text file ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([float(v) for v in line.split(",")])
        except ValueError:
            raise InputError(f"{name}:{number}: not a row of comma-separated numbers") from None
    if not rows:
        raise InputError(f"{name}: empty; expected one sample per row")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise InputError(f"{name}: rows have different lengths {sorted(widths)}")
    return np.array(rows, dtype=np.float64)


def _as_samples(name: str, array: np.ndarray, input_shape: tuple[int, ...]) -> Samples:
    """One sample is any array of exactly the model's input size (784 values, or 28x28);
    a batch is N such samples along the first axis."""
    size = int(np.prod(input_shape))
    if array.size == size:
        batch = array.reshape(1, *input_shape)
        names = [name]
    elif array.ndim >= 2 and array.shape[0] > 0 and array.size == array.shape[0] * size:
        batch = array.reshape(array.shape[0], *input_shape)
        names = [f"{name}[{i}]" for i in range(batch.shape[0])]
    else:
        shape = "x".join(map(str, input_shape))
        raise InputError(
            f"{name}: shape {array.shape} does not fit the model's input {shape} "
            f"({size} values); give one sample or a batch (N, {size})"
        )
    if not np.all(np.isfinite(batch)):
        raise InputError(f"{name}: contains NaN or infinite values")
    return Samples(names, batch)
