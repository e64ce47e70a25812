"""The config's schema: what every key may hold, as frozen pydantic models.

Choices come from the registries (datasets, activations, optimizers, ...), so a name
added to a registry is a valid value here with nothing else to edit. `describe_error`
turns one pydantic error into the text after `file:line: key:` in an error line.
"""

from __future__ import annotations

import datetime
import math
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
)

from dlzero_cli.data.batching import SAMPLERS
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.transforms import NORMALIZERS
from dlzero_cli.engine.activations import ACTIVATIONS, OUTPUTS
from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.losses import LOSSES
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.engine.registry import Registry, did_you_mean
from dlzero_cli.engine.schedules import SCHEDULES
from dlzero_cli.engine.schedules import settings_of as schedule_settings

KeyPath = tuple[str | int, ...]


def registered(registry: Registry[Any], nullable: bool = False) -> Callable[[Any], Any]:
    """A validator: the value is a name in `registry` (or None, when `nullable`)."""

    def check(name: Any) -> Any:
        if name is None and nullable:
            return name
        if name not in registry:
            raise ValueError(f"got {shown(name)}; {registry.choices_hint(name)}")
        return name

    return check


def _parse_layers(value: Any) -> tuple[Any, ...]:
    """'64-50-100-10' or [64, 50, 100, 10] -> (64, 50, 100, 10); a layer list -> its
    entries, checked entry by entry later (config.layers.compile_layers)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\s*-\s*\d+)+\s*", value):
        sizes = tuple(int(part) for part in value.split("-"))
    elif isinstance(value, list) and all(type(v) is int for v in value) and len(value) >= 2:
        sizes = tuple(value)
    elif isinstance(value, list) and value and not all(type(v) is int for v in value):
        return tuple(value)
    else:
        raise ValueError(
            f"got {shown(value)}; write the layer sizes from input to output like 64-50-100-10, "
            "or a layer list like [{conv: {filters: 30, kernel: 5}}, relu, {dense: 10}]"
        )
    if min(sizes) < 1:
        raise ValueError(f"got {shown(value)}; every layer size must be >= 1")
    return sizes


def _layers_text(layers: tuple[Any, ...]) -> str | list[Any]:
    if all(type(v) is int for v in layers):
        return "-".join(map(str, layers))
    return list(layers)


def _parse_validation(value: Any) -> float | int:
    """A fraction of the training split in [0, 1), or a count of samples >= 0."""
    if type(value) is float and 0.0 <= value < 1.0:
        return value
    if type(value) is int and value >= 0:
        return value
    raise ValueError(
        f"got {shown(value)}; use a fraction of the training split in [0, 1) like 0.1, "
        "or a whole number of samples like 500"
    )


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# NAME_PATTERN in words, for error lines (a regex is no answer to "what may I write?")
NAME_RULE = (
    "a name is letters, digits, '.', '_' and '-', starting with a letter or digit "
    "(no spaces or '/'): it names the run's folder"
)


class Section(BaseModel):
    # NaN and infinity are never a setting: `lr: .inf` or 1e999 is refused here.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class DataConfig(Section):
    dataset: Annotated[str, AfterValidator(registered(DATASETS))] = "digits"
    validation: Annotated[float | int, PlainValidator(_parse_validation)] = 0.1
    normalize: Annotated[str, AfterValidator(registered(NORMALIZERS))] = "scale"
    # A seeded, class-stratified subset of the training split (smoke runs, CI).
    limit: Annotated[int, Field(ge=1)] | None = None
    # The validation carve-out (and the limit subset) are seeded separately from the
    # run, so runs with different seeds are compared on the same samples.
    split_seed: Annotated[int, Field(ge=0)] = 0


InitName = Annotated[str, AfterValidator(registered(INITIALIZERS))]
Fraction = Annotated[float, Field(ge=0, lt=1)]


def expand_shorthand(
    sizes: tuple[int, ...], activation: str, batch_norm: bool, dropout: float
) -> list[Any]:
    """784-50-100-10 -> the equivalent layer list (the first size is the input's)."""
    entries: list[Any] = []
    for units in sizes[1:-1]:
        entries.append({"dense": units})
        if batch_norm:  # the book's order: affine -> batch norm -> activation -> dropout
            entries.append("batchnorm")
        entries.append(activation)
        if dropout:
            entries.append({"dropout": dropout})
    entries.append({"dense": sizes[-1]})
    return entries


class ModelConfig(Section):
    layers: Annotated[
        tuple[Any, ...],
        PlainValidator(_parse_layers),
        PlainSerializer(_layers_text),
    ]
    activation: Annotated[str, AfterValidator(registered(ACTIVATIONS))] = "sigmoid"
    output: Annotated[str, AfterValidator(registered(OUTPUTS))] = "softmax"
    init: InitName = "auto"
    init_std: Annotated[float, Field(gt=0)] = 0.01
    # Per weighted layer, numbered from 1 as the book's W1, W2, ...: {1: he}.
    init_by_layer: dict[Annotated[int, Field(ge=1)], InitName] = {}
    # Batch norm after every hidden affine layer, before its activation (the book's order).
    batch_norm: bool = False
    # Dropout ratio after every hidden activation; 0 means no dropout layers.
    dropout: Fraction = 0.0

    @property
    def is_shorthand(self) -> bool:
        """784-50-100-10 sizes, rather than a layer list."""
        return all(type(v) is int for v in self.layers)

    def entries(self) -> list[Any]:
        """The layer list, the shorthand expanded (its first size is the input's)."""
        if self.is_shorthand:
            return expand_shorthand(self.layers, self.activation, self.batch_norm, self.dropout)
        return list(self.layers)


class ChoiceSettings(Section):
    """A registered choice (`name`) plus the settings it takes; unset ones get the
    choice's own defaults, and settings it does not take are an error."""

    name: str

    def defaults(self) -> dict[str, Any]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Every setting the choice takes, with given values over its defaults."""
        given = {k: getattr(self, k) for k in self.model_fields_set if k != "name"}
        return {k: given.get(k, default) for k, default in self.defaults().items()}

    def stray(self) -> list[str]:
        """Settings given that the chosen name does not take."""
        takes = set(self.defaults())
        return sorted(k for k in self.model_fields_set - {"name"} if k not in takes)


class OptimizerConfig(ChoiceSettings):
    name: Annotated[str, AfterValidator(registered(OPTIMIZERS))] = "sgd"
    lr: Annotated[float, Field(gt=0)] | None = None
    momentum: Fraction | None = None
    beta1: Fraction | None = None
    beta2: Fraction | None = None
    eps: Annotated[float, Field(gt=0)] | None = None
    decay_rate: Fraction | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None

    def defaults(self) -> dict[str, Any]:
        return OPTIMIZERS.get(self.name).hyperparameters()


class ScheduleConfig(ChoiceSettings):
    name: Annotated[str, AfterValidator(registered(SCHEDULES))] = "constant"
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    step_size: Annotated[int, Field(ge=1)] | None = None
    gamma: Annotated[float, Field(gt=0, le=1)] | None = None
    min_lr: Annotated[float, Field(ge=0)] | None = None

    def defaults(self) -> dict[str, Any]:
        return {"warmup_epochs": 0, **schedule_settings(self.name)}


class EarlyStoppingConfig(Section):
    metric: Literal["train_loss", "train_acc", "val_loss", "val_acc"] = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"  # auto: min for losses, max for accuracies
    patience: Annotated[int, Field(ge=1)] = 5
    min_delta: Annotated[float, Field(ge=0)] = 0.0


class TrainConfig(Section):
    epochs: Annotated[int, Field(ge=1)] = 10
    batch_size: Annotated[int, Field(ge=1)] = 100
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    # Rescale all gradients together when their global L2 norm exceeds this.
    clip_grad_norm: Annotated[float, Field(gt=0)] | None = None
    early_stopping: EarlyStoppingConfig | None = None
    # Stop as diverged when a batch loss exceeds this many times the first batch's
    # (NaN and infinity always stop); null turns the check off.
    divergence_factor: Annotated[float, Field(gt=1)] | None = 100.0
    sampling: Annotated[str, AfterValidator(registered(SAMPLERS))] = "shuffle"
    dtype: Literal["float32", "float64"] = "float32"
    # How parameter gradients are computed: backprop (chapter 5), or central differences
    # (chapter 4's numerical_gradient: 2 forward passes per parameter entry per step).
    gradient: Literal["backprop", "numerical"] = "backprop"
    # Numerical gradients refuse to start when one epoch is estimated to take longer.
    numerical_limit_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Per-epoch diagnostics.csv and activations.png (dlzero_cli.diagnostics); false
    # skips them at no cost.
    diagnostics: bool = True

    def monitor(self, has_validation: bool) -> tuple[str, str]:
        """(metric, min|max) that picks the best epoch: early stopping's, or the loss."""
        if self.early_stopping is not None:
            metric, mode = self.early_stopping.metric, self.early_stopping.mode
        else:
            metric, mode = ("val_loss" if has_validation else "train_loss"), "auto"
        if mode == "auto":
            mode = "min" if metric.endswith("_loss") else "max"
        return metric, mode


class Config(Section):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=80)]
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    data: DataConfig = DataConfig()
    model: ModelConfig
    loss: Annotated[str, AfterValidator(registered(LOSSES))] = "cross_entropy"
    train: TrainConfig = TrainConfig()

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to a run's config.yaml: every effective value."""
        data = self.model_dump(mode="json")
        for key in ("optimizer", "schedule"):
            section = getattr(self.train, key)
            data["train"][key] = {"name": section.name, **section.options()}
        data["model"]["init_by_layer"] = dict(self.model.init_by_layer)  # int keys, not JSON's
        return data


# --------------------------------------------------------------------------- messages


def _allowed_keys(loc: KeyPath) -> list[str]:
    """Field names of the schema section that contains `loc`'s last key."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        info = model.model_fields.get(str(part))
        annotation = getattr(info, "annotation", None)
        sections = [
            a
            for a in (annotation, *typing.get_args(annotation))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not sections:
            return []
        model = sections[0]
    return list(model.model_fields)


def is_section(key: KeyPath) -> bool:
    """Whether the schema holds a section of keys (train, train.optimizer) at `key`."""
    return bool(_allowed_keys((*key, "")))


def describe_error(error: dict[str, Any]) -> str:
    """One pydantic error as 'what is wrong; what is allowed; did you mean ...'.

    An `allowed` entry in the error (a layer's settings) overrides the schema's keys.
    """
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "extra_forbidden":
        allowed = error["allowed"] if "allowed" in error else _allowed_keys(loc)
        return (
            f"unknown key; allowed here: {', '.join(allowed)}{did_you_mean(str(loc[-1]), allowed)}"
        )
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "model_type":  # "a valid dictionary or instance of TrainConfig": no class names
        keys = ", ".join(_allowed_keys((*loc, "")))
        return f"got {shown(error['input'])}; write a section of keys here ({keys})"
    if kind == "dict_type":
        return f"got {shown(error['input'])}; write a mapping here, like {{1: he}}"
    if kind == "string_pattern_mismatch" and error["ctx"]["pattern"] == NAME_PATTERN:
        return f"got {shown(error['input'])}; {NAME_RULE}"
    message = error["msg"]
    return f"got {shown(error['input'])}; {message[0].lower()}{message[1:]}"


def shown(value: Any, limit: int = 80) -> str:
    """A value as an error line quotes it: as YAML would write it (true, null, .nan,
    [1, 'a'], a date as 2001-12-14), never a Python repr, on one line and cut short
    when long."""
    if isinstance(value, datetime.date):  # YAML 1.1 reads 2001-12-14 unquoted as a date
        return kind_of(value)
    text = _as_yaml(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_yaml(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''").replace("\n", "\\n") + "'"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_as_yaml(k)}: {_as_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_as_yaml(item) for item in value) + "]"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(_as_yaml(item) for item in value)) + "}"
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return "a value YAML cannot write"


def kind_of(value: Any) -> str:
    """What a YAML value (or an unpickled one) is, in words for an error line (never a
    Python class name)."""
    if isinstance(value, np.generic):  # a NumPy scalar: as the Python value it holds
        value = value.item()
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null (no value)"
    if isinstance(value, (int, float)):
        return f"the number {_as_yaml(value)}"
    if isinstance(value, datetime.datetime):
        return f"the date and time {_as_yaml(value)}"
    if isinstance(value, datetime.date):
        return f"the date {_as_yaml(value)}"
    if isinstance(value, str):
        return f"the text {shown(value, 40)}"
    if isinstance(value, bytes):
        return f"binary data ({len(value)} bytes)"
    return f"the value {shown(value, 40)}"
