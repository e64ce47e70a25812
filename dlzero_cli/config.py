"""YAML config -> validated, frozen config objects, with file and line for every error.

Loading is three steps, each of which can report a ConfigError of one line per problem,
`file:line: key.path: what is wrong; what is allowed; did you mean ...`:

1. parse the YAML (safe loader only) and remember the line of every key;
2. apply `--set key.path=value` overrides (their values parsed as YAML too);
3. validate types and ranges with the pydantic schema below, then the rules that span
   several keys (layer sizes against the dataset, loss against output, ...).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
)

from dlzero_cli.architecture import Compiled, LayerProblem, compile_layers, expand_shorthand
from dlzero_cli.data.batching import SAMPLERS
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.data.transforms import NORMALIZERS
from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.layers import ACTIVATIONS, OUTPUTS
from dlzero_cli.engine.losses import LOSSES
from dlzero_cli.engine.optim import OPTIMIZERS
from dlzero_cli.engine.registry import Registry, did_you_mean
from dlzero_cli.engine.schedules import SCHEDULES
from dlzero_cli.engine.schedules import settings_of as schedule_settings
from dlzero_cli.errors import ConfigError

DEFAULT_CONFIG = "digits-64-50-100-10"
KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- schema


def _registered(registry: Registry[Any]) -> Callable[[str], str]:
    def check(name: str) -> str:
        if name not in registry:
            raise ValueError(f"got {name!r}; {registry.choices_hint(name)}")
        return name

    return check


def _parse_layers(value: Any) -> tuple[Any, ...]:
    """'64-50-100-10' or [64, 50, 100, 10] -> (64, 50, 100, 10); a layer list -> its
    entries, checked entry by entry later (architecture.compile_layers)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\s*-\s*\d+)+\s*", value):
        sizes = tuple(int(part) for part in value.split("-"))
    elif isinstance(value, list) and all(type(v) is int for v in value) and len(value) >= 2:
        sizes = tuple(value)
    elif isinstance(value, list) and value and not all(type(v) is int for v in value):
        return tuple(value)
    else:
        raise ValueError(
            f"got {value!r}; write the layer sizes from input to output like 64-50-100-10, "
            "or a layer list like [{conv: {filters: 30, kernel: 5}}, relu, {dense: 10}]"
        )
    if min(sizes) < 1:
        raise ValueError(f"got {value!r}; every layer size must be >= 1")
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
        f"got {value!r}; use a fraction of the training split in [0, 1) like 0.1, "
        "or a whole number of samples like 500"
    )


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataConfig(_Section):
    dataset: Annotated[str, AfterValidator(_registered(DATASETS))] = "digits"
    validation: Annotated[float | int, PlainValidator(_parse_validation)] = 0.1
    normalize: Annotated[str, AfterValidator(_registered(NORMALIZERS))] = "scale"
    # A seeded, class-stratified subset of the training split (smoke runs, CI).
    limit: Annotated[int, Field(ge=1)] | None = None
    # The validation carve-out (and the limit subset) are seeded separately from the
    # run, so runs with different seeds are compared on the same samples.
    split_seed: Annotated[int, Field(ge=0)] = 0


InitName = Annotated[str, AfterValidator(_registered(INITIALIZERS))]
Fraction = Annotated[float, Field(ge=0, lt=1)]


class ModelConfig(_Section):
    layers: Annotated[
        tuple[Any, ...],
        PlainValidator(_parse_layers),
        PlainSerializer(_layers_text),
    ]
    activation: Annotated[str, AfterValidator(_registered(ACTIVATIONS))] = "sigmoid"
    output: Annotated[str, AfterValidator(_registered(OUTPUTS))] = "softmax"
    init: InitName = "auto"
    init_std: Annotated[float, Field(gt=0)] = 0.01
    # Per affine layer, numbered from 1 as the book's W1, W2, ...: {1: he}.
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


class _Settings(_Section):
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


class OptimizerConfig(_Settings):
    name: Annotated[str, AfterValidator(_registered(OPTIMIZERS))] = "sgd"
    lr: Annotated[float, Field(gt=0)] | None = None
    momentum: Fraction | None = None
    beta1: Fraction | None = None
    beta2: Fraction | None = None
    eps: Annotated[float, Field(gt=0)] | None = None
    decay_rate: Fraction | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None

    def defaults(self) -> dict[str, Any]:
        return OPTIMIZERS.get(self.name).hyperparameters()


class ScheduleConfig(_Settings):
    name: Annotated[str, AfterValidator(_registered(SCHEDULES))] = "constant"
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    step_size: Annotated[int, Field(ge=1)] | None = None
    gamma: Annotated[float, Field(gt=0, le=1)] | None = None
    min_lr: Annotated[float, Field(ge=0)] | None = None

    def defaults(self) -> dict[str, Any]:
        return {"warmup_epochs": 0, **schedule_settings(self.name)}


class EarlyStoppingConfig(_Section):
    metric: Literal["train_loss", "train_acc", "val_loss", "val_acc"] = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"  # auto: min for losses, max for accuracies
    patience: Annotated[int, Field(ge=1)] = 5
    min_delta: Annotated[float, Field(ge=0)] = 0.0


class TrainConfig(_Section):
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
    sampling: Annotated[str, AfterValidator(_registered(SAMPLERS))] = "shuffle"
    dtype: Literal["float32", "float64"] = "float32"

    def monitor(self, has_validation: bool) -> tuple[str, str]:
        """(metric, min|max) that picks the best epoch: early stopping's, or the loss."""
        if self.early_stopping is not None:
            metric, mode = self.early_stopping.metric, self.early_stopping.mode
        else:
            metric, mode = ("val_loss" if has_validation else "train_loss"), "auto"
        if mode == "auto":
            mode = "min" if metric.endswith("_loss") else "max"
        return metric, mode


class Config(_Section):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=80)]
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    data: DataConfig = DataConfig()
    model: ModelConfig
    loss: Annotated[str, AfterValidator(_registered(LOSSES))] = "cross_entropy"
    train: TrainConfig = TrainConfig()

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to a run's config.yaml: every effective value."""
        data = self.model_dump(mode="json")
        for key in ("optimizer", "schedule"):
            section = getattr(self.train, key)
            data["train"][key] = {"name": section.name, **section.options()}
        data["model"]["init_by_layer"] = dict(self.model.init_by_layer)  # int keys, not JSON's
        return data


# --------------------------------------------------------------------------- sources


@dataclass
class ConfigSource:
    """Where each value of a config came from: a file line or a --set override."""

    path: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    overrides: dict[KeyPath, str] = field(default_factory=dict)

    def where(self, key: KeyPath) -> str:
        for end in range(len(key), 0, -1):
            prefix = key[:end]
            if prefix in self.overrides:
                return f"--set {self.overrides[prefix]}"
            if prefix in self.lines:
                return f"{self.path}:{self.lines[prefix]}"
        return f"{self.path}:1"

    def error_line(self, key: KeyPath, message: str) -> str:
        dotted = ".".join(str(k) for k in key) or "(top level)"
        return f"{self.where(key)}: {dotted}: {message}"

    def error(self, key: KeyPath, message: str) -> ConfigError:
        return ConfigError(self.error_line(key, message))


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    source: ConfigSource


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """The safe loader, also reading 1e-3 as a float (YAML 1.1 wants 1.0e-3)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, path: str) -> tuple[Any, dict[KeyPath, int]]:
    """The document's data and the 1-based line of every mapping key and list item."""
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: malformed YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines, path)
    return data, lines


def _record_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: "
                    f"{'.'.join(map(str, prefix + (key,)))}: duplicate key; keep only one"
                )
            seen.add(key)
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, prefix + (key,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _record_lines(item, prefix + (index,), lines, path)


def parse_value(text: str) -> Any:
    """A --set value, read as YAML so that 5 is an int and 0.1 a float."""
    data, _ = parse_yaml(text, "--set") if text.strip() else (None, {})
    return data


# --------------------------------------------------------------------------- overrides


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: ConfigSource) -> None:
    """Apply each 'key.path=value' to `data` in place, remembering it in `source`."""
    for item in overrides:
        key_text, sep, value_text = item.partition("=")
        key = tuple(part.strip() for part in key_text.split("."))
        if not sep or not all(key):
            raise ConfigError(
                f"--set {item}: expected key.path=value, for example --set train.epochs=5"
            )
        try:
            value = parse_value(value_text)
        except ConfigError as exc:
            raise ConfigError(f"--set {item}: {str(exc).split(': ', 1)[1]}") from None
        if value is None:
            raise ConfigError(f"--set {item}: the value is empty; write key.path=value")
        target = data
        for depth, part in enumerate(key[:-1]):
            if target.get(part) is None:  # absent, or `early_stopping: null` in the file
                target[part] = {}
            child = target[part]
            if not isinstance(child, dict):
                dotted = ".".join(key[: depth + 1])
                raise ConfigError(f"--set {item}: {dotted} is a value, not a section")
            target = child
        target[key[-1]] = value
        source.overrides[key] = item


# --------------------------------------------------------------------------- validation


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


def _describe(error: dict[str, Any]) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "extra_forbidden":
        allowed = error.get("allowed") or _allowed_keys(loc)
        return (
            f"unknown key; allowed here: {', '.join(allowed)}{did_you_mean(str(loc[-1]), allowed)}"
        )
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = error["msg"]
    return f"got {error['input']!r}; {message[0].lower()}{message[1:]}"


def validate(data: Any, source: ConfigSource) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source.path}:1: the config must be a mapping of keys "
            f"(name, seed, data, model, loss, train), got {type(data).__name__}"
        )
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
            lines.append(source.error_line(loc, _describe(error)))
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None
    problems = list(consistency_problems(config))
    if problems:
        raise ConfigError("\n".join(source.error_line(key, msg) for key, msg in problems))
    return config


def _output_sizes(output: str, classes: int) -> list[int]:
    """Units the last layer may have: one per class, or one for a two-class sigmoid/identity."""
    if output != "softmax" and classes == 2:
        return [1, 2]
    return [classes]


def consistency_problems(config: Config) -> Iterable[tuple[KeyPath, str]]:
    """Rules that involve more than one key, each as (key path, message)."""
    dataset = DATASETS.get(config.data.dataset)
    yield from layer_problems(config, dataset)
    output, loss = config.model.output, config.loss
    family = LOSSES.get(loss)
    if output not in family.by_output:
        other = ", or loss cross_entropy" if loss != "cross_entropy" else ""
        message = f"got {loss!r}, which cannot follow output {output!r}; use output "
        yield ("loss",), message + " or ".join(family.outputs()) + other
    if output == "softmax" and dataset.classes < 2:
        yield ("model", "output"), "softmax needs at least two classes"
    for key in ("optimizer", "schedule"):
        section = getattr(config.train, key)
        takes = ", ".join(section.defaults())
        for stray in section.stray():
            message = f"not a setting of {key} {section.name!r}, which takes: {takes}"
            yield ("train", key, stray), message
    warmup, epochs = config.train.schedule.warmup_epochs, config.train.epochs
    if warmup >= epochs:
        message = f"got {warmup}; the warmup must end before the last epoch (train.epochs is "
        yield ("train", "schedule", "warmup_epochs"), message + f"{epochs})"
    stopping = config.train.early_stopping
    if stopping is not None and stopping.metric.startswith("val_") and not config.data.validation:
        message = (
            f"got {stopping.metric!r}, but data.validation is 0; hold out validation data "
            "(data.validation: 0.1) or stop on a train_ metric"
        )
        yield ("train", "early_stopping", "metric"), message


def compile_model(config: Config, dataset: Dataset) -> Compiled:
    """The engine layer specs of a validated config (its layers fit `dataset`)."""
    model = config.model
    return compile_layers(
        model.entries(), dataset.input_shape, _describe, lambda index: ("model", "layers", index)
    )


def layer_problems(config: Config, dataset: Dataset) -> Iterable[tuple[KeyPath, str]]:
    """Shapes through the layers, from the dataset's inputs to its classes."""
    model = config.model
    layers_key: KeyPath = ("model", "layers")
    if model.is_shorthand and model.layers[0] != dataset.input_size:
        shape = "x".join(map(str, dataset.input_shape))
        size = dataset.input_size
        yield (
            layers_key,
            (
                f"first size {model.layers[0]} does not match dataset {dataset.name!r}, whose "
                f"inputs have {size} values ({shape}); start the layers with {size}"
            ),
        )
        return
    if not model.is_shorthand:
        entry_for = {"batch_norm": "batchnorm", "dropout": "{dropout: 0.5}"}
        for key in [k for k in sorted(entry_for) if getattr(model, k)]:
            yield (
                ("model", key),
                (
                    "applies to the 784-50-100-10 shorthand only; with a layer list, add "
                    f"{entry_for[key]} entries instead"
                ),
            )
    try:
        compiled = compile_model(config, dataset)
    except LayerProblem as problem:
        yield (layers_key if model.is_shorthand else problem.path), problem.message
        return
    allowed = _output_sizes(model.output, dataset.classes)
    # The last layer with weights gives the scores; only dropout or batch norm may
    # follow it (the book's DeepConvNet ends with dropout).
    trailing = 0
    while trailing < len(compiled.specs) - 1 and compiled.specs[-1 - trailing]["type"] in (
        "dropout",
        "batchnorm",
    ):
        trailing += 1
    last = compiled.specs[-1 - trailing]
    last_index = len(model.layers) - 1 - trailing
    last_key = layers_key if model.is_shorthand else (*layers_key, last_index)
    if last["type"] != "affine":
        yield (
            last_key,
            (
                f"the last layer must be {{dense: {allowed[0]}}}: the output activation "
                f"({model.output}) and the loss come after it"
            ),
        )
    elif last["out"] not in allowed:
        sizes = " or ".join(map(str, allowed))
        yield (
            last_key,
            (
                f"last size {last['out']} does not match dataset {dataset.name!r}, which has "
                f"{dataset.classes} classes; end the layers with {sizes} for output "
                f"{model.output!r}"
            ),
        )
    for index, entry in enumerate(model.entries()):
        if entry in ACTIVATIONS.names() and not ACTIVATIONS.get(entry).differentiable:
            key = ("model", "activation") if model.is_shorthand else (*layers_key, index)
            yield (
                key,
                (
                    f"got {entry!r}; its derivative is zero almost everywhere, so gradient "
                    "descent cannot train through it; use sigmoid or relu"
                ),
            )
            break
    weighted = len(compiled.inits)
    for number in model.init_by_layer:
        if number > weighted:
            yield (
                ("model", "init_by_layer", number),
                (
                    f"layer {number} does not exist; the layers with weights are numbered 1 to "
                    f"{weighted} (as the book's W1..W{weighted})"
                ),
            )


# --------------------------------------------------------------------------- loading


def shipped_config_dir() -> Path:
    """The shipped configs: inside the installed wheel, or the checkout's configs/."""
    packaged = Path(__file__).resolve().parent / "configs"
    if packaged.is_dir():
        return packaged
    # Source checkouts and editable installs have no copy inside the package; the one
    # copy is the top-level configs/ folder next to it.
    return Path(__file__).resolve().parent.parent / "configs"


def shipped_configs() -> dict[str, Path]:
    folder = shipped_config_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def resolve_config_path(name_or_path: str | None) -> Path:
    """A config file path, or the name of a shipped config (with or without .yaml)."""
    if name_or_path is None:
        name_or_path = DEFAULT_CONFIG
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    shipped = shipped_configs()
    stem = candidate.name.removesuffix(".yaml").removesuffix(".yml")
    # A bare name may be a shipped config; a path that names a folder never silently is.
    if stem in shipped and candidate.parent == Path("."):
        return shipped[stem]
    if candidate.is_dir():
        raise ConfigError(f"{name_or_path}: is a folder; give a .yaml config file")
    if candidate.parent != Path("."):
        raise ConfigError(f"{name_or_path}: no such config file")
    hint = did_you_mean(stem, list(shipped))
    raise ConfigError(
        f"{name_or_path}: no such config file or shipped config; "
        f"`dlzero configs` lists the shipped ones{hint}"
    )


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (UTF-8 YAML expected)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_config(name_or_path: str | None = None, overrides: Iterable[str] = ()) -> LoadedConfig:
    """Read, override and validate a config; raise ConfigError with one line per problem."""
    path = resolve_config_path(name_or_path)
    data, lines = parse_yaml(read_text(path), str(path))
    source = ConfigSource(str(path), lines)
    if data is None:
        data = {}
    if isinstance(data, dict):
        # A config without a name is named after its file.
        data.setdefault("name", path.stem)
        apply_overrides(data, overrides, source)
    return LoadedConfig(validate(data, source), source)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
