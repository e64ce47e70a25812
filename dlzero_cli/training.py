"""The training loop: mini-batches, forward, loss, backward, optimizer step.

`fit` reports progress through `FitCallbacks` and never prints or writes files; the
caller decides how progress looks and persists the state it is handed after every
epoch (the checkpoint). Everything a resumed run needs is in `TrainState` plus the
optimizer's state and the generator's, so that resuming gives bit-identical results.

Gradients come from backprop, or with `train.gradient: numerical` from central
differences as in the book's chapter 4: each parameter entry is nudged by
+-NUMERICAL_EPS (the book's h = 1e-4) and dL/dw = (L(w + h) - L(w - h)) / 2h, in
float64: two forward passes per entry and step. `numerical_plan` says what a step
costs before training starts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from dlzero_cli.config import TrainConfig
from dlzero_cli.data.batching import SAMPLERS, merged_leftover
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.engine import functional as F
from dlzero_cli.engine.gradcheck import numerical_gradient
from dlzero_cli.engine.losses import Criterion
from dlzero_cli.engine.network import Sequential
from dlzero_cli.engine.optim import OPTIMIZERS, Optimizer
from dlzero_cli.engine.schedules import lr_for_epoch
from dlzero_cli.errors import TrainingDiverged
from dlzero_cli.evaluation import evaluate
from dlzero_cli.model import Model, WeightSnapshot

if TYPE_CHECKING:
    from dlzero_cli.diagnostics import Probe

NUMERICAL_EPS = 1e-4  # the book's h: truncation error ~h^2, rounding ~1e-16/h in float64


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's metrics. Train metrics are averages over the epoch's batches."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        # By hand: dataclasses.asdict deep-copies, which thousands of epochs notice.
        return {name: getattr(self, name) for name in EPOCH_FIELDS}


EPOCH_FIELDS = tuple(f.name for f in fields(EpochRecord))


@dataclass
class TrainState:
    """Where training stands after `epoch` completed epochs."""

    epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_value: float | None = None
    best: WeightSnapshot | None = None  # the best epoch's weights; None before the first
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    reference_loss: float | None = None  # the first batch's: the divergence yardstick


class FitCallbacks:
    """What `fit` tells its caller as training goes; the default does nothing."""

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None: ...

    def step_done(self, step: int, loss: float) -> None: ...

    def epoch_done(self, record: EpochRecord) -> None: ...

    def notice(self, message: str) -> None:
        """One line the user should see once (how the batches were made)."""


def steps_per_epoch(n: int, batch_size: int, sampling: str, min_batch: int = 1) -> int:
    batches = SAMPLERS.get(sampling)(n, batch_size, np.random.default_rng(0), min_batch)
    return sum(1 for _ in batches)


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
    callbacks: FitCallbacks | None = None,
    optimizer: Optimizer | None = None,
    state: TrainState | None = None,
    checkpoint: Callable[[TrainState, Optimizer, WeightSnapshot], None] | None = None,
    probe: Probe | None = None,
) -> TrainState:
    """Train `model` in place from `state` (a fresh start by default) to the last epoch.

    After every epoch `checkpoint(state, optimizer, snapshot)` is called, when given,
    with a copy of the epoch's parameters and buffers (`Model.snapshot`). At the end
    the model holds the last epoch's weights and `state.best` the best epoch's (by
    `settings.monitor`); early stopping ends training after `patience` epochs without
    improvement. Raises TrainingDiverged when a batch loss is not finite, or more than
    `divergence_factor` times the run's first batch loss, or when an epoch ends with a
    weight that is NaN or infinite (a finite loss does not prove finite weights: the
    last step may overflow them); the model then holds the last completed epoch's
    weights (the initial ones when none completed). Every snapshot handed to
    `checkpoint`, and `state.best`, is thus finite.

    `probe`, when given, measures the epochs it wants (dlzero_cli.diagnostics) after
    their last step, without touching weights or the generator.
    """
    callbacks = callbacks or FitCallbacks()
    optimizer = optimizer or make_optimizer(model, settings)
    state = state or TrainState()
    # Overflow on the way to a NaN loss is reported once, as TrainingDiverged, not as
    # warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _run_epochs(
            model, train, val, settings, rng, callbacks, optimizer, state, checkpoint, probe
        )
    return state


def numerical_gradients(
    network: Sequential,
    criterion: Criterion,
    x: np.ndarray,
    labels: np.ndarray,
    grads: dict[str, np.ndarray],
    eps: float = NUMERICAL_EPS,
) -> None:
    """Fill `grads` with dL/dparam by central differences on the batch (x, labels).

    The network must be repeatable in training mode (no dropout, no batch norm: the
    config refuses them) and should be float64. Afterwards `criterion` holds the
    unperturbed batch's scores again.
    """

    def loss() -> float:
        return criterion.forward(network.forward(x), labels)

    for name, param in network.named_params().items():
        grads[name][...] = numerical_gradient(loss, param, eps)
    loss()


@dataclass(frozen=True)
class NumericalPlan:
    """What one step of numerical-gradient training costs, measured before training."""

    parameters: int  # entries to nudge
    seconds_per_pass: float  # one forward pass and loss on a training batch
    steps_per_epoch: int
    limit_seconds: float  # train.numerical_limit_seconds

    @property
    def passes_per_step(self) -> int:
        return 2 * self.parameters + 1  # two per entry, and the unperturbed loss

    @property
    def epoch_seconds(self) -> float:
        return self.passes_per_step * self.seconds_per_pass * self.steps_per_epoch

    @property
    def too_slow(self) -> bool:
        return self.epoch_seconds > self.limit_seconds


def numerical_plan(model: Model, train: Arrays, settings: TrainConfig) -> NumericalPlan:
    """Time forward passes of a training batch (of `model`: a throwaway copy is fine;
    its weights are not changed) and project one epoch of numerical gradients."""
    network, criterion = model.network, model.criterion()
    rows = np.arange(min(settings.batch_size, len(train)))
    x, labels = model.prepare(train.x[rows]), train.y[rows]
    network.train()
    seconds = _time(lambda: criterion.forward(network.forward(x), labels))
    steps = steps_per_epoch(len(train), settings.batch_size, settings.sampling)
    return NumericalPlan(
        network.parameter_count(), seconds, steps, settings.numerical_limit_seconds
    )


def step_seconds(
    model: Model,
    x_raw: np.ndarray,
    labels: np.ndarray,
    settings: TrainConfig,
    gradient: str,
    optimizer: Optimizer | None = None,
    repeats: int = 50,
) -> float:
    """Seconds per training step (preparing the raw batch, forward, gradients, optimizer
    step), measured by running up to `repeats` after a warm-up. It trains `model`: give
    it a throwaway one."""
    network, criterion = model.network, model.criterion()
    optimizer = optimizer or make_optimizer(model, settings)
    grads = network.named_grads()
    network.train()

    def step() -> float:
        x = model.prepare(x_raw)
        loss = criterion.forward(network.forward(x), labels)
        if gradient == "numerical":
            numerical_gradients(network, criterion, x, labels, grads)
        else:
            network.backward(criterion.backward())
        optimizer.step(grads)
        return loss

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _time(step, most=repeats)


def _time(work: Callable[[], object], budget: float = 0.2, most: int = 50) -> float:
    """Seconds per call of `work`: one warm-up call, then calls until `budget`
    seconds or `most` calls have passed; their median (what a typical step costs, with
    the odd interruption by other processes left out)."""
    work()
    times: list[float] = []
    total = 0.0
    while not times or (total < budget and len(times) < most):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
        total += times[-1]
    return float(np.median(times))


def _run_epochs(
    model, train, val, settings, rng, callbacks, optimizer, state, checkpoint, probe
) -> None:
    network = model.network
    criterion = model.criterion()
    sampler = SAMPLERS.get(settings.sampling)
    grads = network.named_grads()
    n = len(train)
    min_batch = network.min_batch  # 2 with batch norm: see data/batching.py
    steps = steps_per_epoch(n, settings.batch_size, settings.sampling, min_batch)
    leftover = merged_leftover(settings.sampling, n, settings.batch_size, min_batch)
    if leftover:
        callbacks.notice(
            f"batch norm: each epoch's last batch would hold {leftover} sample; it joins the "
            f"batch before it ({n} training samples, batch_size {settings.batch_size})"
        )
    metric, mode = settings.monitor(val is not None and len(val) > 0)
    stopping = settings.early_stopping
    schedule = settings.schedule
    schedule_options = schedule.options()
    base_lr = settings.optimizer.options()["lr"]
    numerical = settings.gradient == "numerical"
    last_good = model.snapshot()
    while state.epoch < settings.epochs and not state.stopped_early:
        epoch = state.epoch + 1
        started = time.perf_counter()
        optimizer.lr = lr_for_epoch(
            schedule.name, base_lr, epoch, settings.epochs, **schedule_options
        )
        network.train()
        measuring = probe is not None and probe.wants(epoch)
        callbacks.epoch_started(epoch, settings.epochs, steps)
        loss_sum, correct, seen = 0.0, 0, 0
        for step, indices in enumerate(sampler(n, settings.batch_size, rng, min_batch), start=1):
            labels = train.y[indices]
            x = model.prepare(train.x[indices])
            loss = criterion.forward(network.forward(x), labels)
            if state.reference_loss is None:
                state.reference_loss = loss
            if _diverged(loss, state.reference_loss, settings.divergence_factor):
                model.restore(last_good)
                raise _divergence(epoch, step, loss, state.reference_loss, settings)
            if numerical:
                numerical_gradients(network, criterion, x, labels, grads)
            else:
                network.backward(criterion.backward())
            if settings.clip_grad_norm is not None:
                clip_gradients(grads, settings.clip_grad_norm)
            if measuring and step == steps:
                probe.before_last_step()
            optimizer.step(grads)
            batch = labels.shape[0]
            loss_sum += loss * batch
            correct += int(np.count_nonzero(F.scores_to_labels(criterion.y) == labels))
            seen += batch
            callbacks.step_done(step, loss)
        if bad := model.live_weights().non_finite():
            model.restore(last_good)
            raise TrainingDiverged(
                epoch, steps, math.nan, f"weights became non-finite ({', '.join(bad[:3])})"
            )
        # The optimizer's state too: Adam in float32 with a 1e20 gradient leaves W as it
        # was and its second moment infinite, which no checkpoint may hold (the run
        # would end `failed` at the next write instead of `diverged` here).
        if bad := _non_finite_state(optimizer):
            model.restore(last_good)
            raise TrainingDiverged(
                epoch, steps, math.nan,
                f"optimizer state became non-finite ({', '.join(bad[:3])})",
            )  # fmt: skip
        if measuring:
            probe.measure(epoch, grads)
        val_loss = val_acc = None
        if val is not None and len(val):
            # At the training batch size: validation needs no more memory than training.
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
        last_good = model.snapshot()
        _update_best(state, record, metric, mode, stopping, last_good)
        state.epoch = epoch
        state.history.append(record)
        if checkpoint is not None:
            checkpoint(state, optimizer, last_good)
        callbacks.epoch_done(record)


def _divergence(
    epoch: int, step: int, loss: float, reference: float, settings: TrainConfig
) -> TrainingDiverged:
    if math.isfinite(loss):
        reason = (
            f"loss {loss:.4g} is over {settings.divergence_factor:g} times the first "
            f"batch's {reference:.4g} (train.divergence_factor)"
        )
    else:
        reason = f"loss became {loss}"
    return TrainingDiverged(epoch, step, loss, reason)


def _diverged(loss: float, reference: float, factor: float | None) -> bool:
    if not math.isfinite(loss):
        return True
    return factor is not None and loss > factor * max(reference, 1e-3)


def _non_finite_state(optimizer: Optimizer) -> list[str]:
    """The optimizer's state slots ("v.0.W") holding a NaN or an infinity."""
    return [
        name
        for name, array in optimizer.state_dict().items()
        if np.issubdtype(np.asarray(array).dtype, np.inexact) and not np.isfinite(array).all()
    ]


def _update_best(state, record, metric, mode, stopping, snapshot) -> None:
    value = getattr(record, metric)
    delta = stopping.min_delta if stopping is not None else 0.0
    best = state.best_value
    improved = (
        best is None
        or (mode == "min" and value < best - delta)
        or (mode == "max" and value > best + delta)
    )
    if improved:
        state.best_value, state.best_epoch, state.best = value, record.epoch, snapshot
        state.epochs_without_improvement = 0
    else:
        state.epochs_without_improvement += 1
        if stopping is not None and state.epochs_without_improvement >= stopping.patience:
            state.stopped_early = True
