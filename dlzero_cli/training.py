"""The training loop: mini-batches, forward, loss, backward, optimizer step.

`fit` reports progress through a callback object and never prints or writes files;
the caller decides how progress looks and persists the state it is handed after every
epoch (the checkpoint). Everything a resumed run needs is in `TrainState` plus the
optimizer's state and the generator's, so that resuming gives bit-identical results.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlzero_cli.config import TrainConfig
from dlzero_cli.data.batching import SAMPLERS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.engine import functional as F
from dlzero_cli.engine.optim import OPTIMIZERS, Optimizer
from dlzero_cli.engine.schedules import lr_for_epoch
from dlzero_cli.evaluation import evaluate
from dlzero_cli.model import Model

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass(frozen=True)
class EpochRecord:
    """One row of metrics.csv. Train metrics are averages over the epoch's batches."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        # By hand: dataclasses.asdict deep-copies, which thousands of epochs notice.
        return {name: getattr(self, name) for name in METRIC_COLUMNS}

    def as_row(self) -> list[float]:
        """Numbers only (NaN for a missing validation metric), for checkpoint arrays."""
        return [np.nan if v is None else float(v) for v in self.as_dict().values()]

    @classmethod
    def from_row(cls, row: np.ndarray) -> EpochRecord:
        values = dict(zip(METRIC_COLUMNS, row.tolist(), strict=True))
        for key in ("val_loss", "val_acc"):
            if math.isnan(values[key]):
                values[key] = None
        values["epoch"] = int(values["epoch"])
        return cls(**values)


@dataclass
class TrainState:
    """Where training stands after `epoch` completed epochs."""

    epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_value: float | None = None
    best_arrays: dict[str, np.ndarray] = field(default_factory=dict)  # params and buffers
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    reference_loss: float | None = None  # the first batch's: the divergence yardstick

    def meta(self) -> dict[str, Any]:
        """Everything but the arrays and the history, as JSON-able data."""
        return {
            "epoch": self.epoch,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "epochs_without_improvement": self.epochs_without_improvement,
            "stopped_early": self.stopped_early,
            "reference_loss": self.reference_loss,
        }

    def history_array(self, epochs: int | None = None) -> np.ndarray:
        """(epochs, 7) float64: the first `epochs` records as numbers."""
        rows = [r.as_row() for r in self.history[:epochs]]
        return np.array(rows, dtype=np.float64).reshape(-1, len(METRIC_COLUMNS))

    @classmethod
    def from_meta(
        cls, meta: dict[str, Any], history: np.ndarray, best_arrays: dict[str, np.ndarray]
    ) -> TrainState:
        return cls(
            epoch=int(meta["epoch"]),
            history=[EpochRecord.from_row(row) for row in history],
            best_epoch=int(meta["best_epoch"]),
            best_value=meta["best_value"],
            best_arrays=best_arrays,
            epochs_without_improvement=int(meta["epochs_without_improvement"]),
            stopped_early=bool(meta["stopped_early"]),
            reference_loss=meta["reference_loss"],
        )


class Diverged(Exception):
    """The loss became NaN or infinite, or exploded; `epoch` and `step` say where."""

    def __init__(
        self, epoch: int, step: int, loss: float, reference: float, factor: float | None
    ) -> None:
        if math.isfinite(loss):
            what = (
                f"loss {loss:.4g} is over {factor:g} times the first batch's {reference:.4g} "
                "(train.divergence_factor)"
            )
        else:
            what = f"loss became {loss}"
        super().__init__(f"{what} (epoch {epoch}, step {step})")
        self.epoch, self.step, self.loss = epoch, step, loss


class Progress:
    """Callbacks `fit` makes; the default does nothing."""

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None: ...

    def step_done(self, step: int, loss: float) -> None: ...

    def epoch_done(self, record: EpochRecord) -> None: ...


def steps_per_epoch(n: int, batch_size: int, sampling: str) -> int:
    return sum(1 for _ in SAMPLERS.get(sampling)(n, batch_size, np.random.default_rng(0)))


def make_optimizer(model: Model, settings: TrainConfig) -> Optimizer:
    options = settings.optimizer.options()
    return OPTIMIZERS.get(settings.optimizer.name)(
        model.network.named_params(), decayed=model.network.decayed_names(), **options
    )


def clip_gradients(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most `max_norm`."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for grad in grads.values():
            grad *= grad.dtype.type(scale)
    return norm


def fit(
    model: Model,
    train: Arrays,
    val: Arrays | None,
    settings: TrainConfig,
    rng: np.random.Generator,
    progress: Progress | None = None,
    optimizer: Optimizer | None = None,
    state: TrainState | None = None,
    checkpoint: Callable[[TrainState, Optimizer, dict[str, np.ndarray]], None] | None = None,
) -> TrainState:
    """Train `model` in place from `state` (a fresh start by default) to the last epoch.

    After every epoch `checkpoint(state, optimizer, arrays)` is called, when given, with
    a copy of the epoch's parameters and buffers (see `Model.weights_copy`). At the end
    the model holds the last epoch's weights and `state.best_arrays` the best epoch's
    (by `settings.monitor`); early stopping ends training after `patience` epochs
    without improvement. Raises Diverged when a batch loss is not finite, or more
    than `divergence_factor` times the run's first batch loss; the model then holds
    the last completed epoch's weights.
    """
    progress = progress or Progress()
    optimizer = optimizer or make_optimizer(model, settings)
    state = state or TrainState()
    # Overflow on the way to a NaN loss is reported once, as Diverged, not as warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _run_epochs(model, train, val, settings, rng, progress, optimizer, state, checkpoint)
    return state


def _run_epochs(model, train, val, settings, rng, progress, optimizer, state, checkpoint) -> None:
    network = model.network
    criterion = model.criterion()
    sampler = SAMPLERS.get(settings.sampling)
    grads = network.named_grads()
    n = len(train)
    steps = steps_per_epoch(n, settings.batch_size, settings.sampling)
    metric, mode = settings.monitor(val is not None and len(val) > 0)
    stopping = settings.early_stopping
    schedule = settings.schedule
    schedule_options = schedule.options()
    base_lr = settings.optimizer.options()["lr"]
    last_good = model.weights_copy()
    while state.epoch < settings.epochs and not state.stopped_early:
        epoch = state.epoch + 1
        started = time.perf_counter()
        optimizer.lr = lr_for_epoch(
            schedule.name, base_lr, epoch, settings.epochs, **schedule_options
        )
        network.train()
        progress.epoch_started(epoch, settings.epochs, steps)
        loss_sum, correct, seen = 0.0, 0, 0
        for step, indices in enumerate(sampler(n, settings.batch_size, rng), start=1):
            labels = train.y[indices]
            x = model.prepare(train.x[indices])
            loss = criterion.forward(network.forward(x), labels)
            if state.reference_loss is None:
                state.reference_loss = loss
            if _diverged(loss, state.reference_loss, settings.divergence_factor):
                model.restore_weights(last_good)
                raise Diverged(epoch, step, loss, state.reference_loss, settings.divergence_factor)
            network.backward(criterion.backward())
            if settings.clip_grad_norm is not None:
                clip_gradients(grads, settings.clip_grad_norm)
            optimizer.step(grads)
            batch = labels.shape[0]
            loss_sum += loss * batch
            correct += int(np.count_nonzero(F.scores_to_labels(criterion.y) == labels))
            seen += batch
            progress.step_done(step, loss)
        val_loss = val_acc = None
        if val is not None and len(val):
            # The training batch size: the layers' scratch memory keeps its shape.
            result = evaluate(model, val, batch_size=settings.batch_size)
            val_loss, val_acc = result.loss, result.accuracy
        record = EpochRecord(
            epoch=epoch,
            train_loss=loss_sum / seen,
            train_acc=correct / seen,
            val_loss=val_loss,
            val_acc=val_acc,
            lr=float(optimizer.lr),
            seconds=time.perf_counter() - started,
        )
        last_good = model.weights_copy()
        _update_best(state, record, metric, mode, stopping, last_good)
        state.epoch = epoch
        state.history.append(record)
        if checkpoint is not None:
            checkpoint(state, optimizer, last_good)
        progress.epoch_done(record)


def _diverged(loss: float, reference: float, factor: float | None) -> bool:
    if not math.isfinite(loss):
        return True
    return factor is not None and loss > factor * max(reference, 1e-3)


def _update_best(state, record, metric, mode, stopping, arrays) -> None:
    value = getattr(record, metric)
    delta = stopping.min_delta if stopping is not None else 0.0
    best = state.best_value
    improved = (
        best is None
        or (mode == "min" and value < best - delta)
        or (mode == "max" and value > best + delta)
    )
    if improved:
        state.best_value, state.best_epoch, state.best_arrays = value, record.epoch, arrays
        state.epochs_without_improvement = 0
    else:
        state.epochs_without_improvement += 1
        if stopping is not None and state.epochs_without_improvement >= stopping.patience:
            state.stopped_early = True
