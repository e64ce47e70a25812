"""The run folder's array and table files: weight files, the checkpoint, metrics.csv,
diagnostics.csv.

Which file holds what is listed in `dlzero_cli.runs.folder`; this module is how the
arrays and rows are laid out inside them. Arrays are read with allow_pickle=False:
a weight file can never run code.

A weight file (weights.npz, last.npz) holds

    param/<layer>.<name>      each parameter ("param/0.W", "param/0.b", ...)
    buffer/<layer>.<name>     each buffer (batch norm's running moments)
    normalize/<name>          the input normaliser's fitted state (standardize's mean/std)
    architecture              Model.architecture() as a JSON string (a 0-d str array)

checkpoint.npz holds the same for the epoch it was taken after, plus

    best/param/..., best/buffer/...   the best epoch's weights
    optim/<name>                      the optimizer's state_dict()
    meta                              JSON: {"format": 1, "rng": <generator state>,
                                      "epoch", "best_epoch", "best_value",
                                      "epochs_without_improvement", "stopped_early",
                                      "reference_loss", "run_format"}: run_format is the
                                      run folder format (see `documents`) of the dlzero
                                      that wrote it, absent before format 3, so that a
                                      damaged summary.json cannot hide it
    history                           (epochs, 7) float64: metrics.csv's rows, NaN for
                                      a missing validation metric
    diagnostics                       JSON: the probe's rows so far, each [epoch, layer,
                                      kind, name, metric, value] (absent with
                                      train.diagnostics: false and in older checkpoints)
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.diagnostics import COLUMNS as DIAGNOSTICS_COLUMNS
from dlzero_cli.diagnostics import DiagnosticRow
from dlzero_cli.errors import RunError
from dlzero_cli.model import ARCHITECTURE_FORMAT, Model, WeightSnapshot
from dlzero_cli.runs.documents import RUN_FORMAT
from dlzero_cli.training import EPOCH_FIELDS, EpochRecord, TrainState

PARAM_PREFIX = "param/"
BUFFER_PREFIX = "buffer/"
NORMALIZE_PREFIX = "normalize/"
ARCHITECTURE_KEY = "architecture"
BEST_PREFIX = "best/"
OPTIMIZER_PREFIX = "optim/"
DIAGNOSTICS_KEY = "diagnostics"  # a checkpoint's diagnostics rows, as JSON
CHECKPOINT_FORMAT = 1
METRICS_COLUMNS = EPOCH_FIELDS  # metrics.csv's header, in this order


# --------------------------------------------------------------------------- .npz files


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file; never unpickles (allow_pickle=False)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        # NumPy's own advice for pickled data is to load it unsafely: never ours to give.
        why = "it holds pickled objects" if "allow_pickle" in str(exc) else str(exc)
        raise RunError(f"{path}: not a readable dlzero weight file ({why})") from None


def strip_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose names start with `prefix`, without it."""
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- weight files


def snapshot_arrays(weights: WeightSnapshot, prefix: str = "") -> dict[str, np.ndarray]:
    arrays = {prefix + PARAM_PREFIX + k: v for k, v in weights.params.items()}
    arrays.update({prefix + BUFFER_PREFIX + k: v for k, v in weights.buffers.items()})
    return arrays


def snapshot_from_arrays(arrays: dict[str, np.ndarray], prefix: str = "") -> WeightSnapshot:
    return WeightSnapshot(
        strip_prefix(arrays, prefix + PARAM_PREFIX), strip_prefix(arrays, prefix + BUFFER_PREFIX)
    )


def weight_arrays(model: Model, weights: WeightSnapshot | None = None) -> dict[str, np.ndarray]:
    """A weight file's arrays: `model` with `weights` (its own live ones when None)."""
    arrays = snapshot_arrays(weights if weights is not None else model.live_weights())
    arrays.update({NORMALIZE_PREFIX + k: v for k, v in model.normalizer.state().items()})
    arrays[ARCHITECTURE_KEY] = np.array(json.dumps(model.architecture()))
    return arrays


def model_from_arrays(arrays: dict[str, np.ndarray]) -> Model:
    """The model a weight file holds; ValueError, KeyError or TypeError when inconsistent."""
    architecture = json.loads(str(arrays[ARCHITECTURE_KEY]))
    if not isinstance(architecture, dict):
        raise ValueError("the architecture is not a JSON object")
    return Model.from_parts(
        upgrade_architecture(architecture),
        snapshot_from_arrays(arrays),
        strip_prefix(arrays, NORMALIZE_PREFIX),
    )


# Architecture format 1 (dlzero before each layer kind was declared once) named the
# dense layer "affine", spatial batch norm "batchnorm2d" and padding "pad".
_KINDS_BEFORE_2 = {"affine": "dense", "batchnorm2d": "batchnorm"}
_KEYS_BEFORE_2 = {"pad": "padding"}


def upgrade_architecture(arch: dict[str, Any]) -> dict[str, Any]:
    """A weight file's architecture in the current format (ARCHITECTURE_FORMAT);
    ValueError for an unknown one. A format-1 file's layer specs get today's names."""
    found = arch.get("format")
    if found == ARCHITECTURE_FORMAT:
        return arch
    if found != 1:
        raise ValueError(
            f"unsupported architecture format {found!r} (this dlzero reads 1 to "
            f"{ARCHITECTURE_FORMAT}); a newer dlzero may have written it"
        )
    layers = []
    for spec in arch["layers"]:
        kind = spec["type"]
        upgraded = {_KEYS_BEFORE_2.get(k, k): v for k, v in spec.items()}
        upgraded["type"] = _KINDS_BEFORE_2.get(kind, kind)
        if upgraded["type"] == "batchnorm":
            upgraded["spatial"] = kind == "batchnorm2d"
        if upgraded["type"] == "dropout":
            upgraded.setdefault("scale", "train")
        layers.append(upgraded)
    return {**arch, "format": ARCHITECTURE_FORMAT, "layers": layers}


def config_upgrades(run_format: int, config: dict[str, Any]) -> list[str]:
    """The `--set` overrides that give a run's config.yaml (as plain data) today's
    meaning: before run format 3, `nesterov` was the book's variant, `nesterov_book`."""
    train = config.get("train")
    optimizer = train.get("optimizer") if isinstance(train, dict) else None
    name = optimizer.get("name") if isinstance(optimizer, dict) else None
    if run_format < 3 and name == "nesterov":
        return ["train.optimizer.name=nesterov_book"]
    return []


def checkpoint_run_format(arrays: dict[str, np.ndarray]) -> int:
    """The run format a checkpoint was written under (2 before it was recorded)."""
    return int(json.loads(str(arrays["meta"])).get("run_format", 2))


# --------------------------------------------------------------------------- checkpoint


@dataclass(frozen=True)
class Checkpoint:
    """What checkpoint.npz holds: enough to continue training bit-identically."""

    state: TrainState  # epoch, history, best weights, early-stopping counters
    current: WeightSnapshot  # the weights after `state.epoch` epochs
    optimizer: dict[str, np.ndarray]  # Optimizer.state_dict()
    rng: dict[str, Any]  # the generator's bit_generator.state
    # The probe's rows up to `state.epoch` (None: diagnostics off, or an older
    # checkpoint): kept here as the history is, so that a diagnostics.csv a full disk
    # kept from being written is written again on resuming, at full precision.
    diagnostics: tuple[DiagnosticRow, ...] | None = None


def checkpoint_arrays(model: Model, checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    state = checkpoint.state
    arrays = weight_arrays(model, checkpoint.current)
    if state.best is not None:
        arrays.update(snapshot_arrays(state.best, BEST_PREFIX))
    arrays.update({OPTIMIZER_PREFIX + k: v for k, v in checkpoint.optimizer.items()})
    meta = {
        "format": CHECKPOINT_FORMAT,
        "rng": checkpoint.rng,
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_value": state.best_value,
        "epochs_without_improvement": state.epochs_without_improvement,
        "stopped_early": state.stopped_early,
        "reference_loss": state.reference_loss,
        "run_format": RUN_FORMAT,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    rows = [[math.nan if v is None else float(v) for v in r.as_dict().values()]
            for r in state.history]  # fmt: skip
    arrays["history"] = np.array(rows, dtype=np.float64).reshape(-1, len(EPOCH_FIELDS))
    if checkpoint.diagnostics is not None:
        measured = [
            [r.epoch, r.layer, r.kind, r.name, r.metric, r.value] for r in checkpoint.diagnostics
        ]
        arrays[DIAGNOSTICS_KEY] = np.array(json.dumps(measured))
    return arrays


def checkpoint_from_arrays(arrays: dict[str, np.ndarray]) -> Checkpoint:
    """The checkpoint; ValueError, KeyError or TypeError when inconsistent."""
    meta = json.loads(str(arrays["meta"]))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"unsupported checkpoint format {meta.get('format')!r}")
    best = snapshot_from_arrays(arrays, BEST_PREFIX)
    state = TrainState(
        epoch=int(meta["epoch"]),
        history=[_record_from_row(row) for row in arrays["history"]],
        best_epoch=int(meta["best_epoch"]),
        best_value=meta["best_value"],
        best=best if best.params or best.buffers else None,
        epochs_without_improvement=int(meta["epochs_without_improvement"]),
        stopped_early=bool(meta["stopped_early"]),
        reference_loss=meta["reference_loss"],
    )
    diagnostics = None
    if DIAGNOSTICS_KEY in arrays:
        diagnostics = tuple(
            DiagnosticRow(int(e), int(layer), str(kind), str(name), str(metric), float(value))
            for e, layer, kind, name, metric, value in json.loads(str(arrays[DIAGNOSTICS_KEY]))
        )
    return Checkpoint(
        state,
        snapshot_from_arrays(arrays),
        strip_prefix(arrays, OPTIMIZER_PREFIX),
        meta["rng"],
        diagnostics,
    )


def _record_from_row(row: np.ndarray) -> EpochRecord:
    values: dict[str, Any] = dict(zip(EPOCH_FIELDS, row.tolist(), strict=True))
    for key in ("val_loss", "val_acc"):
        if math.isnan(values[key]):
            values[key] = None
    values["epoch"] = int(values["epoch"])
    return EpochRecord(**values)


# --------------------------------------------------------------------------- metrics.csv


def metrics_text(records: list[EpochRecord]) -> str:
    """metrics.csv: a header and one row per epoch; an empty cell for a missing value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for record in records:
        writer.writerow("" if v is None else v for v in record.as_dict().values())
    return buffer.getvalue()


def parse_metrics(text: str) -> list[EpochRecord]:
    """metrics.csv's records; ValueError when a header or a value is not as written."""
    rows = csv.reader(io.StringIO(text))
    header = tuple(next(rows, ()))
    if header != METRICS_COLUMNS:
        expected = ", ".join(METRICS_COLUMNS)
        raise ValueError(f"columns {', '.join(header) or '(none)'}, not {expected}")
    records = []
    for line, row in enumerate(rows, start=2):
        if len(row) != len(METRICS_COLUMNS):
            raise ValueError(f"line {line}: {len(row)} values, not {len(METRICS_COLUMNS)}")
        values: dict[str, Any] = {
            name: None if cell == "" else float(cell)
            for name, cell in zip(METRICS_COLUMNS, row, strict=True)
        }
        values["epoch"] = int(row[0])
        records.append(EpochRecord(**values))
    return records


# --------------------------------------------------------------------------- diagnostics.csv


def diagnostics_text(rows: list[DiagnosticRow]) -> str:
    """diagnostics.csv: long format, one measurement a row (see dlzero_cli.diagnostics);
    values with 6 significant digits, `nan` where a ratio has no meaning."""
    lines = [",".join(DIAGNOSTICS_COLUMNS)]
    lines += [f"{r.epoch},{r.layer},{r.kind},{r.name},{r.metric},{r.value:.6g}" for r in rows]
    return "\n".join(lines) + "\n"


def parse_diagnostics(text: str) -> list[DiagnosticRow]:
    """diagnostics.csv's rows; ValueError when a header or a value is not as written."""
    lines = text.splitlines()
    header = tuple(lines[0].split(",")) if lines else ()
    if header != DIAGNOSTICS_COLUMNS:
        expected = ", ".join(DIAGNOSTICS_COLUMNS)
        raise ValueError(f"columns {', '.join(header) or '(none)'}, not {expected}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) != len(DIAGNOSTICS_COLUMNS):
            raise ValueError(f"line {number}: {len(cells)} values, not {len(DIAGNOSTICS_COLUMNS)}")
        epoch, layer, kind, name, metric, value = cells
        rows.append(DiagnosticRow(int(epoch), int(layer), kind, name, metric, float(value)))
    return rows
