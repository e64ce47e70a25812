"""The sweep file: its schema, its checks (one `file:line: key: ...` line each) and the
trials it stands for.

    base: fashion-784-50-100-10            # a shipped config name or a path
    name: lr-decay-search                  # the sweep folder's name [the file's name]
    metric: val_accuracy                   # what "best" means [val_accuracy]
    mode: max                              # max | min [max for accuracies, min for losses]
    trials: 20                             # random draws (per grid point) [10]
    seed: 0                                # the sweep seed [0]
    space:                                 # dotted keys, as with --set
      train.optimizer.lr: {loguniform: [1.0e-4, 1.0]}
      model.activation: {choice: [sigmoid, relu]}
      train.batch_size: [50, 100]          # a plain list is a grid axis

Counting: a grid only (lists) runs every combination and ignores `trials`; random only
(distributions) runs `trials` draws; both mixed run `trials` draws at every grid point.

Trial i's values and its run seed come from `numpy.random.default_rng([seed, i])` and
nothing else: the run seed is the stream's first draw (an integer below 2**31), then
each distribution draws once, in the order the space lists them; grid values come from
i alone (grid point i mod the number of points). The same sweep therefore gives the
same trials wherever and in whatever order they run.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from dlzero_cli.config.loading import (
    LoadedConfig,
    file_or_shipped,
    load_config,
    read_text,
    resolve_config_path,
    shipped_configs,
    shipped_sweeps,
)
from dlzero_cli.config.rules import validation_error
from dlzero_cli.config.schema import NAME_PATTERN, kind_of, shown
from dlzero_cli.config.source import ConfigSource, Override, parse_yaml
from dlzero_cli.engine.registry import did_you_mean
from dlzero_cli.errors import ConfigError
from dlzero_cli.sweeps.distributions import DISTRIBUTIONS, Distribution, GridAxis

MAX_TRIALS = 1000  # per sweep: grid points x random draws
SEED_LIMIT = 2**31  # run seeds are drawn below this

# What a trial records, and so what `metric` may name (the columns of sweep.csv).
# Per-epoch metrics are the best over the trial's epochs; test metrics are the run's
# test score (its best epoch's weights).
METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss", "test_accuracy",
           "test_loss")  # fmt: skip


def natural_mode(metric: str) -> str:
    """max for accuracies, min for losses."""
    return "max" if metric.endswith("accuracy") else "min"


@dataclass(frozen=True)
class Dimension:
    """One key of the space: its dotted path, how it varies, and its line."""

    key: tuple[str, ...]
    axis: GridAxis | Distribution
    where: str  # "sweep.yaml:8"

    @property
    def dotted(self) -> str:
        return ".".join(self.key)

    @property
    def is_grid(self) -> bool:
        return isinstance(self.axis, GridAxis)


# --------------------------------------------------------------------------- the file


SweepName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=60)]


def _metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(
            f"got {shown(name)}; a trial records {', '.join(METRICS)}{did_you_mean(name, METRICS)}"
        )
    return name


class SweepFile(BaseModel):
    """The sweep file's keys; `space` is checked key by key afterwards."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    base: str
    name: SweepName | None = None
    metric: Annotated[str, AfterValidator(_metric)] = "val_accuracy"
    mode: Literal["max", "min"] | None = None
    trials: Annotated[int, Field(ge=1, le=MAX_TRIALS)] = 10
    seed: Annotated[int, Field(ge=0)] = 0
    space: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file, its base config resolved."""

    path: Path
    text: str  # the file as given (copied into the sweep folder)
    base_path: Path
    name: str
    metric: str
    mode: str
    trials: int  # random draws (per grid point); unused by a grid-only sweep
    seed: int
    space: tuple[Dimension, ...]
    source: ConfigSource  # the sweep file's lines, for error lines

    @property
    def grid(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.space if d.is_grid)

    @property
    def random(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.space if not d.is_grid)

    @property
    def kind(self) -> str:
        return "mixed" if self.grid and self.random else "grid" if self.grid else "random"

    def grid_points(self) -> int:
        return math.prod(len(d.axis.values) for d in self.grid)


def resolve_sweep_path(name_or_path: str) -> Path:
    """A sweep file path, or the name of a shipped sweep (configs/sweeps/)."""
    shipped = shipped_sweeps()
    found = file_or_shipped(name_or_path, shipped, "sweep .yaml file")
    if found is not None:
        return found
    stem = Path(name_or_path).name.removesuffix(".yaml").removesuffix(".yml")
    names = ", ".join(shipped) or "none"
    raise ConfigError(
        f"{name_or_path}: no such sweep file or shipped sweep (shipped: {names})"
        f"{did_you_mean(stem, list(shipped))}"
    )


def load_sweep(name_or_path: str, base_path: Path | None = None) -> Sweep:
    """Read and check a sweep file; ConfigError with one line per problem.

    `base_path` replaces the file's `base` (a resumed sweep uses its folder's copy).
    """
    path = resolve_sweep_path(name_or_path)
    text = read_text(path)
    data, lines = parse_yaml(text, str(path))
    source = ConfigSource(str(path), lines)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: a sweep file must be a mapping of keys "
            f"({', '.join(SweepFile.model_fields)}), got "
            f"{'an empty file' if data is None else kind_of(data)}"
        )
    try:
        parsed = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, list(SweepFile.model_fields), depth=1) from None
    space = tuple(_dimension(key, value, source) for key, value in parsed.space.items())
    if not space:
        raise source.error(
            ("space",),
            "empty; give at least one key to search, e.g. "
            "train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}",
        )
    name = parsed.name or path.stem
    if parsed.name is None and (len(name) > 60 or not re.fullmatch(NAME_PATTERN, name)):
        # The file's name stands in for `name:` and names the sweep's folder: the same
        # rule as a written name, said before anything is created.
        raise ConfigError(
            f"{path}: the sweep is named after its file, {shown(name)}, which is not a valid "
            "folder name (at most 60 letters, digits, '.', '_', '-', starting with a letter "
            "or digit); add `name: ...` to the file or rename it"
        )
    return Sweep(
        path=path,
        text=text,
        base_path=base_path or _resolve_base(parsed.base, path, source),
        name=name,
        metric=parsed.metric,
        mode=parsed.mode or natural_mode(parsed.metric),
        trials=parsed.trials,
        seed=parsed.seed,
        space=space,
        source=source,
    )


def _resolve_base(base: str, sweep_path: Path, source: ConfigSource) -> Path:
    """A path beside the sweep file, a path from the current folder, or a shipped name."""
    beside = sweep_path.parent / base
    if beside.is_file():
        return beside
    try:
        return resolve_config_path(base)
    except ConfigError:
        stem = Path(base).name.removesuffix(".yaml").removesuffix(".yml")
        raise source.error(
            ("base",),
            f"got {shown(base)}: no such config file (beside the sweep file or from the current "
            f"folder) or shipped config; `dlzero configs` lists the shipped ones"
            f"{did_you_mean(stem, list(shipped_configs()))}",
        ) from None


def _dimension(key: str, value: Any, source: ConfigSource) -> Dimension:
    where = source.where(("space", key))
    path = tuple(part.strip() for part in str(key).split("."))

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: space.{key}: {message}")

    if not all(path):
        raise fail("not a dotted key path; write keys as with --set, e.g. train.optimizer.lr")
    if path == ("name",):
        raise fail("the trials' names come from the sweep's name; search other keys")
    if isinstance(value, list):
        if not value:
            raise fail("an empty list; a grid axis needs at least one value")
        return Dimension(path, GridAxis(tuple(value)), where)
    if isinstance(value, dict):
        if len(value) != 1:
            raise fail(
                f"got {shown(value)}; give one distribution, e.g. {{loguniform: [1.0e-4, 1.0e-1]}}"
            )
        [(name, args)] = value.items()
        if name not in DISTRIBUTIONS:
            raise fail(DISTRIBUTIONS.unknown_message(name))
        try:
            return Dimension(path, DISTRIBUTIONS.get(name).parse(args), where)
        except ValueError as exc:
            raise fail(str(exc)) from None
    raise fail(
        f"got {shown(value)}; give a list of values (a grid axis) or a distribution: "
        f"{{{DISTRIBUTIONS.names()[0]}: [low, high]}}, or one of {', '.join(DISTRIBUTIONS)}"
    )


# --------------------------------------------------------------------------- trials


@dataclass(frozen=True)
class Trial:
    """One point of the space: its index, its values (by dotted key) and its run seed."""

    index: int
    values: dict[str, Any]
    seed: int

    def name(self, sweep_name: str) -> str:
        return f"{sweep_name}-trial-{self.index:04d}"


def trial_count(sweep: Sweep, draws: int | None = None) -> int:
    """How many trials the sweep stands for (`draws` overrides `trials`)."""
    per_point = (draws or sweep.trials) if sweep.random else 1
    return sweep.grid_points() * per_point


def generate_trials(sweep: Sweep, draws: int | None = None) -> list[Trial]:
    """Every trial, in order; trial i depends on the sweep seed and i only."""
    grid = sweep.grid
    points = list(itertools.product(*(d.axis.values for d in grid)))
    trials = []
    for index in range(trial_count(sweep, draws)):
        rng = np.random.default_rng([sweep.seed, index])
        seed = int(rng.integers(SEED_LIMIT))
        point = dict(zip((d.dotted for d in grid), points[index % len(points)], strict=True))
        values = {}
        for dimension in sweep.space:
            if dimension.is_grid:
                values[dimension.dotted] = point[dimension.dotted]
            else:
                values[dimension.dotted] = dimension.axis.draw(rng)
        trials.append(Trial(index, values, seed))
    return trials


@dataclass(frozen=True)
class PlannedTrial:
    """A trial and its validated config (plain data, as a run's config.yaml holds it)."""

    trial: Trial
    config: dict[str, Any]
    dataset: str


@dataclass(frozen=True)
class SweepPlan:
    sweep: Sweep
    draws: int | None  # random draws per grid point (None: a grid-only sweep)
    trials: tuple[PlannedTrial, ...]

    @property
    def datasets(self) -> list[str]:
        return sorted({t.dataset for t in self.trials})


def plan_sweep(sweep: Sweep, draws: int | None = None) -> SweepPlan:
    """Every trial with its config, each validated before anything runs.

    Raises ConfigError: too many trials (MAX_TRIALS), or a trial's config is invalid
    (the config's own error lines; a space key's problem points at its line in the
    sweep file), or `metric` needs validation data that a trial's config has none of.
    """
    count = trial_count(sweep, draws)
    if count > MAX_TRIALS:
        if sweep.kind == "random":
            key, what = ("trials",), f"{count:,} trials"
        else:
            key = ("space",)
            what = f"{count:,} trials (a grid of {sweep.grid_points():,} points"
            what += f" x {draws or sweep.trials} random draws)" if sweep.random else ")"
        raise sweep.source.error(
            key, f"{what}; at most {MAX_TRIALS:,} per sweep: narrow the grid or draw fewer"
        )
    planned = []
    for trial in generate_trials(sweep, draws):
        loaded = trial_config(sweep, trial)
        config = loaded.config
        if sweep.metric.startswith("val_") and not config.data.validation:
            raise sweep.source.error(
                ("metric",),
                f"got {shown(sweep.metric)}, but the base config holds out no validation data "
                "(data.validation: 0); hold some out or choose a train_ or test_ metric",
            )
        planned.append(PlannedTrial(trial, config.to_dict(), config.data.dataset))
    return SweepPlan(sweep, (draws or sweep.trials) if sweep.random else None, tuple(planned))


def trial_config(sweep: Sweep, trial: Trial) -> LoadedConfig:
    """The base config with the trial's name, seed and values, validated."""
    where = {key: sweep.source.where((key,)) for key in ("name", "seed")}
    overrides = [
        Override(("name",), trial.name(sweep.name), where["name"]),
        Override(("seed",), trial.seed, where["seed"]),
    ]
    overrides += [Override(d.key, trial.values[d.dotted], d.where) for d in sweep.space]
    return load_config(str(sweep.base_path), overrides)


def describe_values(values: dict[str, Any], digits: int = 3) -> str:
    """'lr=0.00123 batch_size=50': short names, short numbers (for progress lines)."""
    return " ".join(f"{key.split('.')[-1]}={format_value(v, digits)}" for key, v in values.items())


def format_value(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def axes_log_scale(sweep: Sweep) -> dict[str, bool]:
    """Per dotted key, whether its values are drawn (and best plotted) on a log axis."""
    return {d.dotted: d.axis.log_scale for d in sweep.space}


def is_number(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
