"""A training run without the CLI: create it, train it, resume it, or import one.

The run folder's summary.json always tells the truth (`running` -> `completed`,
`interrupted`, `diverged` or `failed`). After every epoch a checkpoint (weights,
optimizer state, generator state, epoch, metrics, best weights) is written
atomically, so a run stopped by Ctrl-C, SIGTERM or SIGKILL can be resumed and ends
bit-identical to one that was never stopped.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli import __version__, plots
from dlzero_cli.config import LoadedConfig, dump_config, load_config
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.data.splits import dataset_splits
from dlzero_cli.engine.optim import Optimizer
from dlzero_cli.errors import RunError, TrainingDiverged
from dlzero_cli.evaluation import Evaluation, evaluate
from dlzero_cli.model import Model, strip_prefix
from dlzero_cli.pretrained import load_book_params, read_param_pickle
from dlzero_cli.runs import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    CURVES_FILE,
    LAST_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    WEIGHTS_FILE,
    create_run_dir,
    read_summary,
    read_weights,
    utc_now,
    write_csv,
    write_json,
    write_npz,
    write_text,
)
from dlzero_cli.training import (
    METRIC_COLUMNS,
    Diverged,
    EpochRecord,
    Progress,
    TrainState,
    fit,
    make_optimizer,
)

CHECKPOINT_FORMAT = 1
RESUMABLE = ("running", "interrupted", "failed")


class TrainingProgress(Progress):
    """Progress callbacks of a whole run: `fit`'s, plus the run's start."""

    def run_started(self, run_dir: Path, model: Model, splits: dict[str, Arrays]) -> None: ...


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    history: list[EpochRecord]
    test: Evaluation
    summary: dict[str, Any]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; it can be resumed from `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def load_splits(
    loaded: LoadedConfig,
    data_dir: Path | None = None,
    wanted: tuple[str, ...] = ("train", "val", "test"),
    dataset: Dataset | None = None,
) -> dict[str, Arrays]:
    """The config's splits of its dataset (or of `dataset`, split the same way)."""
    data = loaded.config.data
    dataset = dataset or DATASETS.get(data.dataset)
    try:
        return dataset_splits(
            dataset, data.validation, data.split_seed, data_dir, data.limit, wanted
        )
    except ValueError as exc:
        raise loaded.source.error(("data", "validation"), str(exc)) from None


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "dlzero": __version__}


# --------------------------------------------------------------------------- checkpoints


class Checkpointer:
    """Keeps checkpoint.npz and metrics.csv current as epochs complete.

    The training state is snapshotted in memory after every epoch; both files are
    written when a second has passed since the last write, and always by `flush` (at
    the end, on Ctrl-C, SIGTERM, divergence or failure). Epochs longer than a second
    are thus each on disk; runs of thousands of millisecond epochs (the logic gates) do
    not spend their time writing, and a SIGKILL loses at most a second of work.
    Resuming from any epoch boundary is exact.
    """

    INTERVAL = 1.0

    def __init__(self, run_dir: Path, model: Model, rng: np.random.Generator) -> None:
        self.run_dir, self.model, self.rng = run_dir, model, rng
        self.pending: tuple[dict[str, np.ndarray], TrainState, int] | None = None
        self.written_at = time.perf_counter()

    def __call__(
        self, state: TrainState, optimizer: Optimizer, current: dict[str, np.ndarray]
    ) -> None:
        arrays = {**self.model.to_arrays(), **current}  # `current` is a copy already
        arrays.update({f"best/{k}": v for k, v in state.best_arrays.items()})
        arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
        meta = {"format": CHECKPOINT_FORMAT, "rng": self.rng.bit_generator.state, **state.meta()}
        arrays["meta"] = np.array(json.dumps(meta))
        self.pending = (arrays, state, state.epoch)
        if time.perf_counter() - self.written_at >= self.INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        arrays, state, epochs = self.pending
        arrays["history"] = state.history_array(epochs)
        # Atomic, but without the fsync that final files get: a checkpoint lost with
        # the machine's power costs the epochs since the previous one.
        write_npz(self.run_dir / CHECKPOINT_FILE, arrays, durable=False)
        rows = [record.as_dict() for record in state.history[:epochs]]
        write_csv(self.run_dir / METRICS_FILE, METRIC_COLUMNS, rows)
        self.pending = None
        self.written_at = time.perf_counter()


def read_checkpoint(
    run_dir: Path, model: Model, optimizer: Optimizer, rng: np.random.Generator
) -> TrainState:
    """Restore weights, optimizer and generator from a run's checkpoint; the state."""
    path = run_dir / CHECKPOINT_FILE
    arrays = read_weights(path)
    try:
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unsupported checkpoint format {meta.get('format')!r}")
        model.restore_weights(arrays)
        optimizer.load_state_dict(strip_prefix(arrays, "optim/"))
        rng.bit_generator.state = meta["rng"]
        return TrainState.from_meta(meta, arrays["history"], strip_prefix(arrays, "best/"))
    except (KeyError, ValueError, TypeError) as exc:
        raise RunError(f"{path}: not a consistent checkpoint ({exc})") from None


# --------------------------------------------------------------------------- training


def train_from_config(
    loaded: LoadedConfig,
    runs_dir: Path,
    progress: TrainingProgress | None = None,
    data_dir: Path | None = None,
) -> TrainResult:
    """A new run folder for `loaded`, trained to the end."""
    config = loaded.config
    splits = load_splits(loaded, data_dir)
    run_dir = create_run_dir(runs_dir, config.name)
    write_text(run_dir / CONFIG_FILE, dump_config(config))
    return _train(run_dir, loaded, splits, progress or TrainingProgress(), resume=False)


def resume_run(
    run_dir: Path, progress: TrainingProgress | None = None, data_dir: Path | None = None
) -> TrainResult:
    """Continue an interrupted run in its own folder from its last checkpoint."""
    status = read_summary(run_dir).get("status")
    if status not in RESUMABLE:
        raise RunError(
            f"{run_dir}: status is {status!r}; only a run that is "
            f"{', '.join(RESUMABLE[:-1])} or {RESUMABLE[-1]} can be resumed"
        )
    loaded = load_config(str(run_dir / CONFIG_FILE))
    splits = load_splits(loaded, data_dir)
    return _train(run_dir, loaded, splits, progress or TrainingProgress(), resume=True)


def _train(
    run_dir: Path,
    loaded: LoadedConfig,
    splits: dict[str, Arrays],
    progress: TrainingProgress,
    resume: bool,
) -> TrainResult:
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    rng = np.random.default_rng(config.seed)
    model = Model.from_config(config, dataset, rng)
    model.normalizer.fit(splits["train"].x)
    optimizer = make_optimizer(model, config.train)
    state = TrainState()
    if resume and (run_dir / CHECKPOINT_FILE).is_file():
        state = read_checkpoint(run_dir, model, optimizer, rng)
    previous = read_summary(run_dir) if resume else {}
    summary: dict[str, Any] = {
        "name": config.name,
        "status": "running",
        "seed": config.seed,
        "dataset": dataset.name,
        "samples": {split: len(arrays) for split, arrays in splits.items()},
        "parameters": model.network.parameter_count(),
        "started_at": previous.get("started_at", utc_now().isoformat()),
        "versions": versions(),
    }
    if resume:
        summary["resumed_at"] = [*previous.get("resumed_at", []), utc_now().isoformat()]
        summary["resumed_from_epoch"] = state.epoch
    write_json(run_dir / SUMMARY_FILE, summary)
    progress.run_started(run_dir, model, splits)

    started = time.perf_counter()
    # The best weights travel in the checkpoint; weights.npz is written once, at the
    # end (or when stopped), not re-synced to disk at every improvement.
    checkpoint = Checkpointer(run_dir, model, rng)

    def finish(status: str, **extra: Any) -> None:
        checkpoint.flush()
        plots.plot_curves(
            [r.as_dict() for r in state.history], run_dir / CURVES_FILE, f"{config.name} ({status})"
        )
        wall = time.perf_counter() - started
        trained = (len(state.history) - summary.get("resumed_from_epoch", 0)) * len(splits["train"])
        summary.update(
            status=status,
            finished_at=utc_now().isoformat(),
            wall_seconds=round(wall, 3),
            epochs_completed=state.epoch,
            best_epoch=state.best_epoch,
            best_metric=dict(
                zip(("name", "mode"), config.train.monitor(bool(len(splits["val"]))), strict=True)
            ),
            stopped_early=state.stopped_early,
            samples_per_second=round(trained / wall, 1) if wall > 0 else None,
            final=state.history[-1].as_dict() if state.history else None,
            **extra,
        )
        write_json(run_dir / SUMMARY_FILE, summary)

    def save_weights() -> None:
        """last.npz as the model stands; weights.npz the best epoch (the current
        weights when no epoch has completed)."""
        write_npz(run_dir / LAST_FILE, model.to_arrays())
        write_npz(run_dir / WEIGHTS_FILE, _with_arrays(model, state.best_arrays))

    val = splits["val"] if len(splits["val"]) else None
    try:
        fit(
            model, splits["train"], val, config.train, rng,
            progress=progress, optimizer=optimizer, state=state, checkpoint=checkpoint,
        )  # fmt: skip
    except Diverged as exc:
        save_weights()  # fit left the last good epoch's weights in the model
        finish("diverged", error=str(exc))
        raise TrainingDiverged(
            f"training diverged: {exc}; lower train.optimizer.lr (now "
            f"{config.train.optimizer.options()['lr']}) or check the input scale "
            f"(data.normalize); the last good weights are in {run_dir}"
        ) from None
    except KeyboardInterrupt:
        # Resuming uses the checkpoint (written by finish); the weight files are for
        # looking at the run as it stands, mid-epoch.
        save_weights()
        finish("interrupted")
        raise RunInterrupted(run_dir) from None
    except BaseException as exc:
        finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise

    save_weights()
    if state.best_arrays:
        model.restore_weights(state.best_arrays)  # the test score is the best epoch's
    test = evaluate(model, splits["test"], batch_size=config.train.batch_size)
    finish("completed", test={"loss": test.loss, "accuracy": test.accuracy})
    return TrainResult(run_dir, state.history, test, summary)


def _with_arrays(model: Model, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's weight-file arrays with its parameters and buffers from `arrays`
    (the current ones where `arrays` is empty: no epoch completed)."""
    return {**model.to_arrays(), **arrays}


# --------------------------------------------------------------------------- import


def import_book(weights: Path, config_ref: str, runs_dir: Path, name: str | None = None) -> Path:
    """A run folder holding the book's pretrained parameters under `config_ref`'s layers."""
    loaded = load_config(config_ref, [f"name={name}"] if name else [])
    config = loaded.config
    if config.data.normalize == "standardize":
        raise loaded.source.error(
            ("data", "normalize"),
            "got 'standardize'; the book's networks take pixels / 255: use scale",
        )
    dataset = DATASETS.get(config.data.dataset)
    model = Model.from_config(config, dataset, np.random.default_rng(config.seed))
    load_book_params(model.network, read_param_pickle(weights), str(weights))
    run_dir = create_run_dir(runs_dir, config.name)
    write_text(run_dir / CONFIG_FILE, dump_config(config))
    write_csv(run_dir / METRICS_FILE, METRIC_COLUMNS, [])
    write_npz(run_dir / WEIGHTS_FILE, model.to_arrays())
    now = utc_now().isoformat()
    write_json(
        run_dir / SUMMARY_FILE,
        {
            "name": config.name,
            "status": "imported",
            "imported_from": str(weights.resolve()),
            "imported_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "dataset": dataset.name,
            "parameters": model.network.parameter_count(),
            "started_at": now,
            "finished_at": now,
            "versions": versions(),
        },
    )
    return run_dir
