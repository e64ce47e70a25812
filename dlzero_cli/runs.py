"""The run folder: where a training run keeps its config, metrics, weights and summary.

    runs/<UTC timestamp>-<name>/
        config.yaml    the fully resolved config (defaults and overrides applied)
        metrics.csv    one row per epoch
        weights.npz    the best epoch's parameters + architecture; allow_pickle=False
        last.npz       the last epoch's, in the same format
        checkpoint.npz weights, optimizer and generator state, metrics: for --resume
        summary.json   status, final metrics, seed, timings, versions
        curves.png     loss and accuracy per epoch, train against validation
        eval-<dataset>-<split>.json, confusion-*.png, misclassified-*.png  by `dlzero eval`

Every file is written to a temporary name in the same folder and renamed into place,
so a crash never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.atomic import atomic_open
from dlzero_cli.errors import RunError
from dlzero_cli.model import Model

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "weights.npz"
SUMMARY_FILE = "summary.json"
CURVES_FILE = "curves.png"
LAST_FILE = "last.npz"
CHECKPOINT_FILE = "checkpoint.npz"
RUNS_DIR_ENV = "DLZERO_RUNS_DIR"


def default_runs_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


# --------------------------------------------------------------------------- atomic writes


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_npz(path: Path, arrays: dict[str, np.ndarray], durable: bool = True) -> None:
    with atomic_open(path, "wb", durable=durable) as f:
        np.savez(f, **arrays)


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in columns})
    write_text(path, buffer.getvalue())


# --------------------------------------------------------------------------- folders


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_run_dir(runs_dir: Path, name: str, now: datetime | None = None) -> Path:
    """A new, empty run folder `<UTC timestamp>-<name>`; never reuses an existing one.

    Two runs started in the same second get `-2`, `-3`, ... suffixes: mkdir without
    exist_ok is atomic, so even concurrent processes cannot both claim a name.
    """
    stamp = (now or utc_now()).strftime("%Y%m%dT%H%M%SZ")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{runs_dir}: cannot create the runs folder: {exc.strerror}") from None
    for attempt in range(1, 10_000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        path = runs_dir / f"{stamp}-{name}{suffix}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"{path}: cannot create the run folder: {exc.strerror}") from None
        return path
    raise RunError(f"{runs_dir}: too many runs named {name!r} in one second")


def resolve_run(run: str, runs_dir: Path | None = None, need_weights: bool = True) -> Path:
    """A run folder from a path, or `latest` for the newest run in `runs_dir`."""
    runs_dir = runs_dir or default_runs_dir()
    if run == "latest":
        candidates = [p for p in runs_dir.glob("*") if (p / SUMMARY_FILE).is_file()]
        if not candidates:
            raise RunError(f"{runs_dir}: no runs yet; train one with `dlzero train`")
        return max(candidates, key=_started_at)
    path = Path(run)
    if not path.exists() and (runs_dir / run).exists():
        path = runs_dir / run
    if not path.is_dir():
        raise RunError(f"{run}: no such run folder; give a path under {runs_dir}/ or `latest`")
    if need_weights and not (path / WEIGHTS_FILE).is_file():
        raise RunError(
            f"{path}: not a finished run (no {WEIGHTS_FILE}); train one with `dlzero train`"
        )
    return path


def _started_at(path: Path) -> tuple[str, float]:
    try:
        started = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))["started_at"]
    except (OSError, ValueError, KeyError, TypeError):
        started = ""
    return str(started), path.stat().st_mtime


# --------------------------------------------------------------------------- reading


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a weight file; never unpickles (allow_pickle=False)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise RunError(f"{path}: not a readable dlzero weight file ({exc})") from None


def read_summary(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RunError(f"{run_dir / SUMMARY_FILE}: unreadable ({exc})") from None


def load_model(run_dir: Path) -> Model:
    """The trained model of a run folder, from its weight file alone."""
    path = run_dir / WEIGHTS_FILE
    arrays = read_weights(path)
    try:
        return Model.from_arrays(arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise RunError(f"{path}: not a consistent dlzero weight file ({exc})") from None
