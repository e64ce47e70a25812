"""Reading `predict` inputs into raw-scale samples of the model's input shape.

An INPUT is an image (PNG, JPEG, BMP, GIF: preprocessed the way the model's dataset
was made, see imaging.py), a folder of such files, a `.npy` array (one sample or a
batch), an IDX file (`*-ubyte`, `.idx`, optionally `.gz`), a `.csv` file (one sample per
row), a literal row of numbers such as `1,0`, or `-` for a `.npy` array or an image on
standard input. Arrays are taken in the dataset's raw scale (0..255 for MNIST, 0..16
for digits); the model applies its own normalisation. Nothing is ever unpickled.

Every input is bounded before it is allocated: a `.npy` header's claimed size is checked
against the bytes that are there and against MAX_INPUT_VALUES, images against the pixel
limit in imaging.py. A malformed row typed on the command line is a TypedInputError
(exit 2); a bad file is an InputError (exit 1). Values outside the range the model was
trained on (0..pixel_max) are clipped to it, with one warning for the whole command.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dlzero_cli.data.idx import IdxError, read_idx
from dlzero_cli.data.npy import NPY_MAGIC, NpyError, read_npy_header
from dlzero_cli.errors import InputError, TypedInputError
from dlzero_cli.imaging import IMAGE_SUFFIXES, open_gray, to_model_input

# A command-line argument with a comma, or one number-like word, is a row, never a path
# (unless such a file exists): `1.2.3,0` is a row whose first value is bad.
NUMBER_LIKE = re.compile(r"\s*[-+]?([\d.]*\d[\d.]*(e[-+]?[\d.]*)?|inf|infinity|nan)\s*", re.I)
MAX_IDX_BYTES = 1 << 30
# 50 million values (400 MB as float64): more than the MNIST training set (47,040,000).
MAX_INPUT_VALUES = 50_000_000
MAX_STDIN_BYTES = 1 << 30
ARRAY_SUFFIXES = (".npy", ".csv")
SHOWN_ROW_CHARS = 40


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


@dataclass(frozen=True)
class InputProblem:
    """One line for the user about the inputs. exit_code 0: a warning (the input was
    still used); 1: a file could not be used; 2: something typed was malformed."""

    line: str
    exit_code: int

    @property
    def is_warning(self) -> bool:
        return self.exit_code == 0


def is_idx_name(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith("ubyte") or name.endswith(".idx")


def read_inputs(
    args: list[str], spec: InputSpec, stdin: bytes | None = None
) -> tuple[list[Samples], list[InputProblem]]:
    """The samples of every readable input, and one line per unreadable one (then at
    most one warning, for values outside the trained range, which are clipped).

    A folder contributes each supported file in it (sorted by name); a bad file in a
    folder is reported on its own and does not spoil the others.
    """
    good: list[Samples] = []
    problems: list[InputProblem] = []
    for arg in args:
        try:
            targets = _expand(arg)
        except InputError as exc:
            problems.append(InputProblem(str(exc), exc.exit_code))
            continue
        for target in targets:
            try:
                good.append(_read_one(target, arg, spec, stdin))
            except InputError as exc:
                problems.append(InputProblem(str(exc), exc.exit_code))
    clipped = [clip_to_range(samples, spec.pixel_max) for samples in good]
    outside = [
        samples.names[0] for samples, was in zip(good, clipped, strict=True) if was is not samples
    ]
    if outside:
        problems.append(InputProblem(out_of_range_warning(outside, spec.pixel_max), 0))
    return clipped, problems


def clip_to_range(samples: Samples, pixel_max: float) -> Samples:
    """`samples` itself when every value is within 0..pixel_max, else a clipped copy."""
    x = samples.x
    if x.size == 0 or (x.min() >= 0 and x.max() <= pixel_max):
        return samples
    return Samples(samples.names, np.clip(x, 0.0, pixel_max))


def out_of_range_warning(names: list[str], pixel_max: float) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"{shown}: values outside 0..{pixel_max:g}, the range this model was trained on; "
        "predicted with them clipped to that range"
    )


def read_stdin(stream: BinaryIO) -> bytes:
    """Standard input's bytes, refused past MAX_STDIN_BYTES rather than read forever."""
    data = stream.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise InputError(
            f"-: more than {MAX_STDIN_BYTES:,} bytes on standard input; "
            "give such a file by its name instead"
        )
    return data


def _expand(arg: str) -> list[Path | str]:
    if arg == "-":
        return [arg]
    path = Path(arg)
    if _is_row(arg, path):
        return [arg]
    if _safe(path.is_dir):
        try:
            files = sorted(p for p in path.iterdir() if _supported(p) and _safe(p.is_file))
        except OSError as exc:
            raise InputError(f"{arg}: cannot list this folder: {exc.strerror}") from None
        if not files:
            raise InputError(f"{arg}: no images, .npy, .csv or IDX files in this folder")
        return list(files)
    if _safe(path.is_file):
        return [path]
    raise InputError(f"{arg}: no such file or folder, and not a row of numbers like 1,0")


def _safe(check) -> bool:
    """A path test that is False, not an exception, for names too long or with NUL."""
    try:
        return bool(check())
    except (OSError, ValueError):
        return False


def _is_row(arg: str, path: Path) -> bool:
    if path.suffix.lower() in IMAGE_SUFFIXES + ARRAY_SUFFIXES or is_idx_name(path):
        return False  # a missing `1.png` is a missing file, not a bad number
    row_like = "," in arg or NUMBER_LIKE.fullmatch(arg) is not None
    return row_like and not _safe(path.exists)


def row_name(text: str) -> str:
    """A typed row as it is shown: whole when short, else its start and its length."""
    if len(text) <= SHOWN_ROW_CHARS:
        return text
    values = text.count(",") + 1
    return f"{text[: SHOWN_ROW_CHARS - 3].rsplit(',', 1)[0]},... ({values} values)"


def parse_row(text: str) -> np.ndarray:
    """`1,0.5,3e2` -> float64 array; TypedInputError naming the first bad value."""
    name = row_name(text)
    fields = text.split(",")
    values = []
    for number, field in enumerate(fields, start=1):
        try:
            value = float(field)
        except ValueError:
            shown = field.strip() or "(empty)"
            raise TypedInputError(
                f"{name}: value {number} of {len(fields)}, {shown[:20]!r}, is not a number; "
                "write a row as numbers separated by commas, like 0,1"
            ) from None
        if not math.isfinite(value):
            raise TypedInputError(
                f"{name}: value {number} of {len(fields)} is {field.strip()}; give finite numbers"
            )
        values.append(value)
    return np.array(values, dtype=np.float64)


def _read_one(target: Path | str, arg: str, spec: InputSpec, stdin: bytes | None) -> Samples:
    if isinstance(target, Path):
        return read_file(target, arg if target == Path(arg) else str(target), spec)
    if target == "-":
        if not stdin:
            raise InputError(
                "-: standard input was empty; pipe an image or a .npy array into it, "
                "e.g. dlzero predict latest - < digit.png"
            )
        return _from_bytes("-", stdin, spec)
    return _as_samples(row_name(target), parse_row(target), spec.shape, typed=True)


def _supported(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in ARRAY_SUFFIXES or is_idx_name(path)


def read_file(path: Path, name: str, spec: InputSpec) -> Samples:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        image = to_model_input(open_gray(path, name), spec.shape, spec.pixel_max, spec.invert, name)
        return Samples([name], image[np.newaxis])
    if suffix == ".npy":
        try:
            with path.open("rb") as file:
                array = read_npy(file, path.stat().st_size, name)
        except OSError as exc:
            raise InputError(f"{name}: cannot read: {exc.strerror or 'I/O error'}") from None
        return _as_samples(name, array, spec.shape)
    if suffix == ".csv":
        return _as_samples(name, _read_csv(path, name), spec.shape)
    if is_idx_name(path):
        return _as_samples(name, _read_idx(_read_bytes(path, name), name), spec.shape)
    raise InputError(
        f"{name}: unsupported input type {suffix or '(no extension)'!r}; give an image "
        f"({', '.join(IMAGE_SUFFIXES)}), .npy, .csv or IDX file, or a row like 1,0"
    )


def _read_bytes(path: Path, name: str) -> bytes:
    """A whole (IDX) file, refused unread when it is larger than MAX_IDX_BYTES."""
    try:
        size = path.stat().st_size
        if size > MAX_IDX_BYTES:
            raise InputError(
                f"{name}: {size:,} bytes is more than predict reads ({MAX_IDX_BYTES:,}); "
                "split the file"
            )
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or 'I/O error'}") from None


def _from_bytes(name: str, data: bytes, spec: InputSpec) -> Samples:
    """Standard input: a .npy array if it starts like one, else an image."""
    if data.startswith(NPY_MAGIC):
        return _as_samples(name, read_npy(io.BytesIO(data), len(data), name), spec.shape)
    image = to_model_input(open_gray(data, name), spec.shape, spec.pixel_max, spec.invert, name)
    return Samples([name], image[np.newaxis])


def read_npy(file: BinaryIO, size: int, name: str) -> np.ndarray:
    """A plain numeric .npy array from `file` (`size` bytes long), as float64.

    The header is read and checked first: a dtype of real numbers or bools (never
    objects: nothing is unpickled), a claimed size that the file's bytes hold and that
    is at most MAX_INPUT_VALUES values. Only then is the payload read.
    """
    try:
        header = read_npy_header(file, name)
    except NpyError as exc:
        raise InputError(str(exc)) from None
    shape, fortran_order, dtype = header.shape, header.fortran_order, header.dtype
    _check_npy_dtype(dtype, name)
    values, claimed = header.values, header.nbytes
    available = size - file.tell()
    if claimed > available:
        raise InputError(
            f"{name}: the header claims shape {shape} ({claimed:,} bytes of {dtype.name}) but "
            f"the file holds {max(available, 0):,} bytes after it; the file is truncated or damaged"
        )
    if values > MAX_INPUT_VALUES:
        raise InputError(
            f"{name}: {values:,} values is more than predict reads at once "
            f"({MAX_INPUT_VALUES:,}); split the array into smaller files"
        )
    payload = file.read(claimed)
    if len(payload) < claimed:
        raise InputError(f"{name}: the file ended before its {claimed:,} bytes of data")
    array = np.frombuffer(payload, dtype=dtype, count=values)
    array = array.reshape(shape, order="F" if fortran_order else "C")
    return array.astype(np.float64)


def _check_npy_dtype(dtype: np.dtype, name: str) -> None:
    if dtype.hasobject:
        raise InputError(
            f"{name}: not a plain numeric .npy array: it holds Python objects, "
            "which dlzero never unpickles"
        )
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        kind = "records" if dtype.fields is not None else dtype.name
        raise InputError(
            f"{name}: not a plain numeric .npy array: an array of {kind}; "
            "give real numbers (integers, floats or bools)"
        )


def _read_idx(data: bytes, name: str) -> np.ndarray:
    try:
        array = read_idx(data, name, MAX_IDX_BYTES)
    except IdxError as exc:
        raise InputError(str(exc)) from None
    if array.size > MAX_INPUT_VALUES:
        raise InputError(
            f"{name}: {array.size:,} values is more than predict reads at once "
            f"({MAX_INPUT_VALUES:,}); split the file"
        )
    return array.astype(np.float64)


def _read_csv(path: Path, name: str) -> np.ndarray:
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_VALUES * 2:  # at least a digit and a comma per value
            raise InputError(
                f"{name}: {size:,} bytes holds more values than predict reads at once "
                f"({MAX_INPUT_VALUES:,}); split the file"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"{name}: unreadable text file ({reason or 'I/O error'})") from None
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


def _as_samples(
    name: str, array: np.ndarray, input_shape: tuple[int, ...], typed: bool = False
) -> Samples:
    """One sample is any array of exactly the model's input size (784 values, or 28x28);
    a batch is N such samples along the first axis."""
    error = TypedInputError if typed else InputError
    size = int(np.prod(input_shape))
    if array.size == size:
        batch = array.reshape(1, *input_shape)
        names = [name]
    elif array.ndim >= 2 and array.shape[0] > 0 and array.size == array.shape[0] * size:
        batch = array.reshape(array.shape[0], *input_shape)
        names = [f"{name}[{i}]" for i in range(batch.shape[0])]
    else:
        shape = "x".join(map(str, input_shape))
        if typed:
            got = "1 value does" if array.size == 1 else f"{array.size} values do"
        else:
            got = f"shape {array.shape} does"
        raise error(
            f"{name}: {got} not fit the model's input {shape} "
            f"({size} values); give one sample or a batch (N, {size})"
        )
    if not np.all(np.isfinite(batch)):
        raise error(f"{name}: contains NaN or infinite values; give finite numbers")
    return Samples(names, batch)
