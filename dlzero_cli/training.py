"""The training loop: mini-batches, forward, loss, backward, optimizer step.

`fit` reports progress through a callback object and never prints; the CLI decides
how progress looks (a rich bar on a terminal, one plain line per epoch in CI logs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from dlzero_cli.config import TrainConfig
from dlzero_cli.data.batching import SAMPLERS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.engine import functional as F
from dlzero_cli.engine.optim import OPTIMIZERS, Optimizer
from dlzero_cli.evaluation import evaluate
from dlzero_cli.modeling import Model

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
        return asdict(self)


class Diverged(Exception):
    """The loss became NaN or infinite; `epoch` and `step` say where."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"loss became {loss} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.loss = epoch, step, loss


class Progress:
    """Callbacks `fit` makes; the default does nothing."""

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None: ...

    def step_done(self, step: int, loss: float) -> None: ...

    def epoch_done(self, record: EpochRecord) -> None: ...


def steps_per_epoch(n: int, batch_size: int, sampling: str) -> int:
    return sum(1 for _ in SAMPLERS.get(sampling)(n, batch_size, np.random.default_rng(0)))


def make_optimizer(model: Model, settings: TrainConfig) -> Optimizer:
    options = settings.optimizer.model_dump(exclude={"name"})
    return OPTIMIZERS.get(settings.optimizer.name)(model.network.named_params(), **options)


def fit(
    model: Model,
    train: Arrays,
    val: Arrays | None,
    settings: TrainConfig,
    rng: np.random.Generator,
    progress: Progress | None = None,
    optimizer: Optimizer | None = None,
) -> list[EpochRecord]:
    """Train `model` in place for settings.epochs epochs; returns one record per epoch.

    Raises Diverged when a batch loss is not finite; the model then holds the
    weights of the last completed epoch (or its initial weights).
    """
    progress = progress or Progress()
    optimizer = optimizer or make_optimizer(model, settings)
    # Overflow on the way to a NaN loss is reported once, as Diverged, not as warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _epochs(model, train, val, settings, rng, progress, optimizer)


def _epochs(
    model: Model,
    train: Arrays,
    val: Arrays | None,
    settings: TrainConfig,
    rng: np.random.Generator,
    progress: Progress,
    optimizer: Optimizer,
) -> list[EpochRecord]:
    network = model.network
    criterion = model.criterion()
    sampler = SAMPLERS.get(settings.sampling)
    grads = network.named_grads()
    params = network.named_params()
    good = {name: p.copy() for name, p in params.items()}
    history: list[EpochRecord] = []
    n = len(train)
    steps = steps_per_epoch(n, settings.batch_size, settings.sampling)
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        network.train()
        progress.epoch_started(epoch, settings.epochs, steps)
        loss_sum, correct, seen = 0.0, 0, 0
        for step, indices in enumerate(sampler(n, settings.batch_size, rng), start=1):
            labels = train.y[indices]
            x = model.prepare(train.x[indices])
            loss = criterion.forward(network.forward(x), labels)
            if not np.isfinite(loss):
                for name, param in params.items():
                    param[...] = good[name]
                raise Diverged(epoch, step, loss)
            network.backward(criterion.backward())
            optimizer.step(grads)
            batch = labels.shape[0]
            loss_sum += loss * batch
            correct += int(np.count_nonzero(F.scores_to_labels(criterion.y) == labels))
            seen += batch
            progress.step_done(step, loss)
        for name, param in params.items():
            good[name][...] = param
        val_loss = val_acc = None
        if val is not None and len(val):
            result = evaluate(model, val, batch_size=max(settings.batch_size, 1000))
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
        history.append(record)
        progress.epoch_done(record)
    return history
