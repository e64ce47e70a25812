"""A run's life cycle without the CLI: train it, resume it, or import one.

The run folder's summary.json always tells the truth (`running` -> `completed`,
`interrupted`, `diverged` or `failed`). After every epoch a checkpoint (weights,
optimizer state, generator state, epoch, metrics, best weights) is taken, so a run
stopped by Ctrl-C, SIGTERM or SIGKILL can be resumed and ends bit-identical to one
that was never stopped.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.config import LoadedConfig, ModelConfig, load_config
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.diagnostics import DiagnosticRow, Probe, diagnostic_indices, hidden_activations
from dlzero_cli.engine.optim import Optimizer
from dlzero_cli.errors import RunError, TrainingDiverged
from dlzero_cli.evaluation import Evaluation, evaluate
from dlzero_cli.model import (
    Model,
    WeightSnapshot,
)
from dlzero_cli.pretrained import load_book_params, read_param_pickle
from dlzero_cli.runs.documents import Environment, Outcome, Score, Summary
from dlzero_cli.runs.folder import RunFolder, utc_now
from dlzero_cli.runs.formats import Checkpoint
from dlzero_cli.runs.manifest import make_manifest, split_digests
from dlzero_cli.runs.planning import numerical_slowdown, plan_numerical, refuse_slow_numerical
from dlzero_cli.runs.splits import load_splits
from dlzero_cli.runs.threads import blas_threads, current_environment, versions
from dlzero_cli.training import (
    EpochRecord,
    FitCallbacks,
    TrainState,
    fit,
    make_optimizer,
)

RESUMABLE = ("running", "interrupted", "failed")


class RunCallbacks(FitCallbacks):
    """What a run tells its caller: `fit`'s callbacks, plus the run's start."""

    def run_started(self, folder: RunFolder, model: Model, splits: dict[str, Arrays]) -> None: ...


@dataclass(frozen=True)
class TrainResult:
    folder: RunFolder
    history: list[EpochRecord]
    test: Evaluation  # the best epoch's weights on the test split
    summary: Summary
    # train.gradient: numerical: its seconds per step over backprop's on the same network
    slowdown: float | None = None


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; it can be resumed from `folder`."""

    def __init__(self, folder: RunFolder) -> None:
        super().__init__(str(folder.path))
        self.folder = folder


def layers_text(model: ModelConfig) -> str:
    """model.layers on one line: 64-50-100-10, or conv(30,5)-relu-maxpool(2)-dense(100)."""
    if model.is_shorthand:
        return "-".join(map(str, model.layers))

    def entry_text(entry: Any) -> str:
        if isinstance(entry, dict) and len(entry) == 1:
            [(kind, settings)] = entry.items()
            values = settings.values() if isinstance(settings, dict) else [settings]
            return f"{kind}({','.join(map(str, values))})"
        return str(entry)

    return "-".join(entry_text(entry) for entry in model.layers)


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

    def __init__(
        self,
        folder: RunFolder,
        model: Model,
        rng: np.random.Generator,
        diagnostics: list[DiagnosticRow] | None = None,
    ) -> None:
        self.folder, self.model, self.rng = folder, model, rng
        self.diagnostics = diagnostics  # the probe's rows, written alongside
        self.pending: Checkpoint | None = None
        self.written_at = time.perf_counter()

    def __call__(self, state: TrainState, optimizer: Optimizer, current: WeightSnapshot) -> None:
        # A snapshot of this epoch: `current` is a copy already, the records are frozen,
        # and the history list is copied (fit goes on appending to its own).
        snapshot = replace(state, history=list(state.history))
        self.pending = Checkpoint(
            snapshot, current, optimizer.state_dict(), self.rng.bit_generator.state
        )
        if time.perf_counter() - self.written_at >= self.INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        checkpoint = self.pending
        self.folder.write_checkpoint(self.model, checkpoint)
        self.folder.write_metrics(checkpoint.state.history)
        if self.diagnostics is not None:
            epoch = checkpoint.state.epoch
            self.folder.write_diagnostics([r for r in self.diagnostics if r.epoch <= epoch])
        self.pending = None
        self.written_at = time.perf_counter()


def restore_checkpoint(
    folder: RunFolder, model: Model, optimizer: Optimizer, rng: np.random.Generator
) -> TrainState:
    """Put a run's checkpoint into the model, optimizer and generator; its state."""
    checkpoint = folder.read_checkpoint()
    try:
        model.restore(checkpoint.current)
        optimizer.load_state_dict(checkpoint.optimizer)
        rng.bit_generator.state = checkpoint.rng
    except (KeyError, ValueError, TypeError) as exc:
        raise folder.inconsistent_checkpoint(exc) from None
    return checkpoint.state


# --------------------------------------------------------------------------- training


def train_from_config(
    loaded: LoadedConfig,
    runs_dir: Path,
    callbacks: RunCallbacks | None = None,
    data_dir: Path | None = None,
    threads: int | None = None,
) -> TrainResult:
    """A new run folder for `loaded`, trained to the end.

    `threads` fixes the BLAS threads for the run (restored afterwards); None leaves
    them as they are. Either way manifest.json records the count in effect.
    """
    config = loaded.config
    splits = load_splits(loaded, data_dir)
    if config.train.gradient == "numerical":
        refuse_slow_numerical(plan_numerical(loaded, splits))
    folder = RunFolder.create(runs_dir, config.name)
    folder.write_config(config)
    with blas_threads(threads):
        environment = current_environment(threads)
        return _train(folder, loaded, splits, callbacks or RunCallbacks(), None, environment)


def resume_run(
    folder: RunFolder,
    callbacks: RunCallbacks | None = None,
    data_dir: Path | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Continue an interrupted run in its own folder from its last checkpoint.

    Without `threads`, a run whose manifest asked for a BLAS thread count continues
    with that count, so that it ends as an uninterrupted run would.
    """
    previous = folder.read_summary()
    if previous.status not in RESUMABLE:
        raise RunError(
            f"{folder.path}: status is {previous.status!r}; only a run that is "
            f"{', '.join(RESUMABLE[:-1])} or {RESUMABLE[-1]} can be resumed"
        )
    loaded = folder.read_config()
    splits = load_splits(loaded, data_dir)
    if threads is None and folder.has_manifest():
        threads = folder.read_manifest().environment.threads_requested
    with blas_threads(threads):
        environment = current_environment(threads)
        return _train(folder, loaded, splits, callbacks or RunCallbacks(), previous, environment)


def _train(
    folder: RunFolder,
    loaded: LoadedConfig,
    splits: dict[str, Arrays],
    callbacks: RunCallbacks,
    previous: Summary | None,
    environment: Environment,
) -> TrainResult:
    """Train `folder`'s run to the end: afresh, or on from its checkpoint when `previous`
    (its summary so far) is given. Whenever it stops with weights, manifest.json records
    its files, `splits`' digests and `environment`."""
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    rng = np.random.default_rng(config.seed)
    model = Model.from_config(config, dataset, rng)
    model.normalizer.fit(splits["train"].x)
    optimizer = make_optimizer(model, config.train)
    state = TrainState()
    if previous is not None and folder.has_checkpoint():
        state = restore_checkpoint(folder, model, optimizer, rng)
    now = utc_now().isoformat()
    summary = Summary(
        name=config.name,
        status="running",
        seed=config.seed,
        dataset=dataset.name,
        layers=layers_text(config.model),
        samples={split: len(arrays) for split, arrays in splits.items()},
        parameters=model.network.parameter_count(),
        started_at=previous.started_at if previous else now,
        versions=versions(),
        resumed_at=(*previous.resumed_at, now) if previous else (),
        resumed_from_epoch=state.epoch if previous else None,
    )
    folder.write_summary(summary)
    digests = split_digests(splits)
    callbacks.run_started(folder, model, splits)

    probe = _probe(folder, loaded, model, splits["train"], state.epoch, previous is not None)
    started = time.perf_counter()
    # The best weights travel in the checkpoint; weights.npz is written once, at the
    # end (or when stopped), not re-synced to disk at every improvement.
    checkpoint = Checkpointer(folder, model, rng, probe.rows if probe else None)
    metric, mode = config.train.monitor(bool(len(splits["val"])))

    def finish(status: str, error: str | None = None, test: Score | None = None) -> Summary:
        checkpoint.flush()
        folder.write_curves(state.history, f"{config.name} ({status})")
        wall = time.perf_counter() - started
        trained = (len(state.history) - (summary.resumed_from_epoch or 0)) * len(splits["train"])
        outcome = Outcome(
            wall_seconds=round(wall, 3),
            epochs_completed=state.epoch,
            best_epoch=state.best_epoch,
            best_metric=metric,
            best_mode=mode,
            stopped_early=state.stopped_early,
            samples_per_second=round(trained / wall, 1) if wall > 0 else None,
            final=state.history[-1] if state.history else None,
            best_val_acc=max(
                (r.val_acc for r in state.history if r.val_acc is not None), default=None
            ),
        )
        final = replace(
            summary, status=status, finished_at=utc_now().isoformat(), outcome=outcome,
            error=error, test=test,
        )  # fmt: skip
        folder.write_summary(final)
        if folder.weights_path.is_file():
            folder.write_manifest(make_manifest(folder, environment, dataset.name, digests))
        return final

    def save_weights() -> None:
        """last.npz as the model stands; weights.npz the best epoch (the current
        weights when no epoch has completed); activations.png of the model as it stands."""
        folder.write_last(model)
        folder.write_weights(model, state.best)
        if probe is not None:
            title = f"{config.name}: hidden activations after epoch {state.epoch}"
            folder.write_activations(hidden_activations(model.network, probe.x), title)

    val = splits["val"] if len(splits["val"]) else None
    try:
        fit(
            model, splits["train"], val, config.train, rng,
            callbacks=callbacks, optimizer=optimizer, state=state, checkpoint=checkpoint,
            probe=probe,
        )  # fmt: skip
    except TrainingDiverged as exc:
        save_weights()  # fit left the last good epoch's weights in the model
        finish("diverged", error=exc.detail)
        raise exc.with_hint(
            f"lower train.optimizer.lr (now {config.train.optimizer.options()['lr']}) or "
            f"check the input scale (data.normalize); the last good weights are in "
            f"{folder.path}"
        ) from None
    except KeyboardInterrupt:
        # Resuming uses the checkpoint (written by finish); the weight files are for
        # looking at the run as it stands, mid-epoch.
        save_weights()
        finish("interrupted")
        raise RunInterrupted(folder) from None
    except BaseException as exc:
        finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise

    save_weights()
    if state.best is not None:
        model.restore(state.best)  # the test score is the best epoch's
    test = evaluate(model, splits["test"], batch_size=config.train.batch_size)
    final = finish("completed", test=Score(test.loss, test.accuracy))
    slowdown = None
    if config.train.gradient == "numerical":
        slowdown = numerical_slowdown(loaded, splits["train"], state.history)
    return TrainResult(folder, state.history, test, final, slowdown)


def _probe(
    folder: RunFolder,
    loaded: LoadedConfig,
    model: Model,
    train: Arrays,
    epoch: int,
    resumed: bool,
) -> Probe | None:
    """The run's diagnostics probe (None when train.diagnostics is off); a resumed run
    keeps the rows of the epochs its checkpoint has."""
    config = loaded.config
    if not config.train.diagnostics or not len(train):
        return None
    rows: list[DiagnosticRow] = []
    if resumed and folder.has_diagnostics():
        rows = [row for row in folder.read_diagnostics() if row.epoch <= epoch]
    x = model.prepare(train.x[diagnostic_indices(len(train), config.seed)])
    return Probe(model.network, x, config.train.epochs, rows)


# --------------------------------------------------------------------------- import


def import_book(
    weights: Path, config_ref: str, runs_dir: Path, name: str | None = None
) -> RunFolder:
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
    folder = RunFolder.create(runs_dir, config.name)
    folder.write_config(config)
    folder.write_metrics([])
    folder.write_weights(model)
    now = utc_now().isoformat()
    folder.write_summary(
        Summary(
            name=config.name,
            status="imported",
            layers=layers_text(config.model),
            imported_from=str(weights.resolve()),
            imported_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
            dataset=dataset.name,
            parameters=model.network.parameter_count(),
            started_at=now,
            finished_at=now,
            versions=versions(),
        )
    )
    # It trained elsewhere: no dataset digests; the pickle's SHA-256 is in the summary.
    folder.write_manifest(make_manifest(folder, current_environment()))
    return folder
