"""Before a run: what it will cost. The numerical-gradient plan (and the refusal of one
too slow to train) and `dlzero check`'s dry run: the data, the network, memory and a
few real steps timed. Nothing here writes a file.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlzero_cli.config import LoadedConfig, model_footprint
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.errors import ConfigError
from dlzero_cli.evaluation import evaluate
from dlzero_cli.model import Model, NetworkSummary, summarize
from dlzero_cli.runs.splits import load_splits
from dlzero_cli.runs.threads import blas_threads
from dlzero_cli.training import (
    EpochRecord,
    NumericalPlan,
    fit,
    make_optimizer,
    numerical_plan,
    step_seconds,
    steps_per_epoch,
)

# --------------------------------------------------------------------------- numerical


def _throwaway_model(loaded: LoadedConfig, train: Arrays) -> Model:
    """The config's model, initialised by a generator of its own: measuring it changes
    nothing of the run (whose generator draws the same weights)."""
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    model = Model.from_config(config, dataset, np.random.default_rng(config.seed), loaded.source)
    model.normalizer.fit(train.x)
    return model


def plan_numerical(loaded: LoadedConfig, splits: dict[str, Arrays]) -> NumericalPlan:
    """What numerical-gradient training of `loaded` will cost per step and epoch."""
    return numerical_plan(_throwaway_model(loaded, splits["train"]), splits["train"],
                          loaded.config.train)  # fmt: skip


def refuse_slow_numerical(plan: NumericalPlan) -> None:
    """ConfigError (one line) when an epoch would take longer than the limit."""
    if not plan.too_slow:
        return
    limit = plan.limit_seconds
    raise ConfigError(
        f"train.gradient: numerical would take about {_duration(plan.epoch_seconds)} per "
        f"epoch ({plan.passes_per_step:,} forward passes per step x {plan.steps_per_epoch:,} "
        f"steps), over train.numerical_limit_seconds ({limit:g}); raise it with --set "
        f"train.numerical_limit_seconds={math.ceil(plan.epoch_seconds * 1.5)}, or train a "
        "smaller network or fewer samples (data.limit)"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def numerical_slowdown(
    loaded: LoadedConfig, train: Arrays, history: list[EpochRecord]
) -> float | None:
    """Seconds per numerical step (the run's epochs over their steps) against backprop's
    on the same network and batch size, measured on a throwaway model."""
    settings = loaded.config.train
    if not history:
        return None
    steps = steps_per_epoch(len(train), settings.batch_size, settings.sampling)
    numerical = sum(r.seconds for r in history) / (len(history) * steps)
    rows = np.arange(min(settings.batch_size, len(train)))
    model = _throwaway_model(loaded, train)
    backprop = step_seconds(model, train.x[rows], train.y[rows], settings, "backprop")
    return numerical / backprop if backprop > 0 else None


# --------------------------------------------------------------------------- dry run


@dataclass(frozen=True)
class MemoryPart:
    name: str
    bytes: int


@dataclass(frozen=True)
class DryRun:
    """What `dlzero check` reports: the data, the network, memory and time estimates."""

    summary: NetworkSummary
    data_present: bool
    download_command: str | None  # how to get the data when it is missing
    timed_on: str  # "training data" or "random inputs"
    samples: dict[str, int]  # train / val / test, measured or expected
    epochs: int
    steps_per_epoch: int
    step_seconds: float  # one training step, measured
    eval_seconds: float  # validating one epoch, estimated from a timed forward pass
    # The parts of the estimate `dlzero train` compares with the memory available
    # (config.footprint): the same numbers, so check and train's refusal agree.
    memory: list[MemoryPart]
    measured_step_bytes: int  # peak allocations of one training step (tracemalloc)
    dataset_bytes: int  # the dataset held in memory, beside the network's estimate
    numerical: NumericalPlan | None

    @property
    def epoch_seconds(self) -> float:
        return self.steps_per_epoch * self.step_seconds + self.eval_seconds

    @property
    def run_seconds(self) -> float:
        return self.epochs * self.epoch_seconds

    @property
    def peak_bytes(self) -> int:
        return sum(part.bytes for part in self.memory)


def dry_run(
    loaded: LoadedConfig, data_dir: Path | None = None, threads: int | None = None
) -> DryRun:
    """Check a config without training it: data present?, the network, memory, and a
    few real training steps timed (on the training data when it is here, else on random
    inputs of its shape) with `threads` BLAS threads. Changes nothing on disk."""
    with blas_threads(threads):
        return _dry_run(loaded, data_dir)


def _dry_run(loaded: LoadedConfig, data_dir: Path | None) -> DryRun:
    config = loaded.config
    settings = config.train
    dataset = DATASETS.get(config.data.dataset)
    present = dataset.is_available(data_dir)
    if present:
        splits = load_splits(loaded, data_dir)
        samples = {name: len(arrays) for name, arrays in splits.items()}
        train = splits["train"]
        dataset_bytes = sum(a.x.nbytes + a.y.nbytes for a in splits.values())
        timed_on = "training data"
    else:
        samples = _expected_samples(loaded, dataset)
        rng = np.random.default_rng(config.seed)
        n = min(samples["train"], 2 * settings.batch_size)
        high = int(dataset.pixel_max) + 1
        x = rng.integers(0, high, size=(n, *dataset.input_shape), dtype=np.uint8)
        train = Arrays(x, rng.integers(0, dataset.classes, size=n))
        item = int(np.prod(dataset.input_shape)) + 8  # uint8 pixels and an int64 label
        dataset_bytes = sum(samples.values()) * item
        timed_on = "random inputs"
    batch = min(settings.batch_size, len(train))
    rows = np.arange(batch)
    model = _throwaway_model(loaded, train)
    summary = summarize(loaded)
    numerical = numerical_plan(model, train, settings) if settings.gradient == "numerical" else None
    optimizer = make_optimizer(model, settings)
    step_bytes = _traced(lambda: step_seconds(model, train.x[rows], train.y[rows], settings,
                                              "backprop", optimizer, repeats=1))  # fmt: skip
    if numerical is not None:
        seconds = numerical.passes_per_step * numerical.seconds_per_pass
    else:
        seconds = _fit_step_seconds(model, train, settings, config.seed)
    val = splits["val"] if present else train
    forward = _evaluate_seconds(model, val, settings.batch_size)
    val_batches = math.ceil(samples["val"] / settings.batch_size)
    memory = [MemoryPart(name, size) for name, size in model_footprint(config, dataset).parts()]
    return DryRun(
        summary=summary,
        data_present=present,
        download_command=None if present else dataset.download_command(data_dir),
        timed_on=timed_on,
        samples=samples,
        epochs=settings.epochs,
        steps_per_epoch=steps_per_epoch(
            samples["train"], settings.batch_size, settings.sampling, model.network.min_batch
        ),
        step_seconds=seconds,
        eval_seconds=val_batches * forward,
        memory=memory,
        measured_step_bytes=step_bytes,
        dataset_bytes=dataset_bytes,
        numerical=numerical,
    )


def _fit_step_seconds(model: Model, train: Arrays, settings, seed: int) -> float:
    """Seconds per step of `fit` itself (sampling, preparing, forward, backward, update,
    bookkeeping) on a few batches: a warm-up epoch, then the median of three."""
    batches = 8
    subset = train.take(np.arange(min(len(train), batches * settings.batch_size)))
    quick = settings.model_copy(update={"epochs": 4, "early_stopping": None})
    steps = steps_per_epoch(
        len(subset), settings.batch_size, settings.sampling, model.network.min_batch
    )
    state = fit(model, subset, None, quick, np.random.default_rng(seed))
    return float(np.median([r.seconds for r in state.history[1:]])) / steps


def _evaluate_seconds(model: Model, data: Arrays, batch_size: int) -> float:
    """Seconds per batch of `evaluate` (as validation runs it), on up to 4 batches."""
    subset = data.take(np.arange(min(len(data), 4 * batch_size)))
    if not len(subset):
        return 0.0
    batches = math.ceil(len(subset) / batch_size)
    evaluate(model, subset, batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    evaluate(model, subset, batch_size=batch_size)
    return (time.perf_counter() - started) / batches


def _expected_samples(loaded: LoadedConfig, dataset: Dataset) -> dict[str, int]:
    """Split sizes as load_splits would make them, from the dataset's declared sizes."""
    data = loaded.config.data
    sizes = dataset.split_sizes()
    total = sizes["train"]
    validation = data.validation
    val = int(round(validation * total)) if isinstance(validation, float) else int(validation)
    train = total - val
    if data.limit is not None:
        train = min(train, data.limit)
    return {"train": train, "val": val, "test": sizes["test"]}


def _traced(work) -> int:
    """Peak bytes allocated while `work` runs (NumPy reports its arrays to tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
