"""Validation: the schema's types and ranges, then the rules that span several keys
(layer sizes against the dataset, loss against output, ...). Each problem is one line,
`file:line: key.path: message`, located through the ConfigSource."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from pydantic import ValidationError

from dlzero_cli.config import footprint
from dlzero_cli.config.layers import Compiled, LayerProblem, TooLarge, compile_layers
from dlzero_cli.config.schema import Config, KeyPath, describe_error, kind_of, shown
from dlzero_cli.config.source import ConfigSource
from dlzero_cli.data.catalog import DATASETS, Dataset
from dlzero_cli.engine.activations import ACTIVATIONS
from dlzero_cli.engine.layers import Affine
from dlzero_cli.engine.losses import LOSSES
from dlzero_cli.errors import ConfigError, DlzeroError


def validation_error(
    exc: ValidationError,
    source: ConfigSource,
    allowed: list[str] | None = None,
    depth: int | None = None,
) -> ConfigError:
    """One `file:line: key: message` line per problem pydantic found (duplicates once).

    `allowed` names the keys an unknown one is compared with (default: the config
    schema's section); `depth` cuts each key path to that many parts.
    """
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        if allowed is not None:
            error = {**error, "allowed": allowed}
        lines.append(source.error_line(loc[:depth], describe_error(error)))
    return ConfigError("\n".join(dict.fromkeys(lines)))


def validate(data: Any, source: ConfigSource, check_memory: bool = True) -> Config:
    """The config `data` as a validated Config, or a ConfigError of one line per problem.

    With `check_memory`, a network too large to train on this machine is a problem too
    (`dlzero summary` turns it off: it describes a network without building it).
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source.path}:1: the config must be a mapping of keys "
            f"(name, seed, data, model, loss, train), got {kind_of(data)}"
        )
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source) from None
    problems = list(consistency_problems(config))
    if problems:
        raise ConfigError("\n".join(source.error_line(key, msg) for key, msg in problems))
    if check_memory:
        refuse_if_too_large(config, DATASETS.get(config.data.dataset), source)
    return config


def refuse_if_too_large(config: Config, dataset: Dataset, source: ConfigSource | None) -> None:
    """The one refusal of a network too large for this machine's memory, at model.layers:
    `file:line: model.layers: the network needs about ...` (without the location when
    the config's source is not known, as for a Config built in code)."""
    message = memory_problem(config, dataset)
    if message is None:
        return
    if source is None:
        raise ConfigError(f"model.layers: {message}")
    raise source.error(("model", "layers"), message)


def compile_model(
    config: Config,
    dataset: Dataset,
    rng: np.random.Generator | None = None,
    shapes_only: bool = False,
    source: ConfigSource | None = None,
) -> Compiled:
    """The layers of a validated config (they fit `dataset`), in the config's dtype.

    With `shapes_only` the layers hold no memory (footprint.SHAPES_ONLY): their shapes,
    parameter counts and summaries are real, their values nothing. Otherwise a network
    too large for this machine's memory is refused before anything is allocated (at
    model.layers of `source`, when given).
    """
    if shapes_only:
        return _compile(config, dataset, footprint.SHAPES_ONLY, rng, footprint.SHAPES_ONLY_LIMIT)
    refuse_if_too_large(config, dataset, source)
    return _compile(config, dataset, np.dtype(config.train.dtype), rng)


def _compile(
    config: Config,
    dataset: Dataset,
    dtype: np.dtype,
    rng: np.random.Generator | None,
    limit: int | None = None,
) -> Compiled:
    return compile_layers(
        config.model.entries(),
        dataset.input_shape,
        lambda index: ("model", "layers", index),
        dtype,
        rng,
        limit,
    )


def model_footprint(config: Config, dataset: Dataset) -> footprint.Footprint:
    """What training `config`'s network needs, from its layers built in SHAPES_ONLY."""
    compiled = compile_model(config, dataset, shapes_only=True)
    batch = config.train.batch_size
    try:
        batch = min(batch, dataset.split_sizes()["train"])
    except (DlzeroError, OSError, KeyError):
        pass  # the data is not here yet: a batch as configured
    return footprint.estimate(
        compiled.layers,
        compiled.shapes,
        dataset.input_shape,
        batch=batch,
        dtype=np.dtype(config.train.dtype),
        optimizer=config.train.optimizer.name,
    )


def memory_problem(config: Config, dataset: Dataset) -> str | None:
    """Why `config`'s network cannot train in this machine's memory, or None."""
    try:
        needs = model_footprint(config, dataset)
    except LayerProblem:
        return None  # reported by layer_problems
    return footprint.too_large(needs, footprint.available_bytes())


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
        message = f"got {shown(loss)}, which cannot follow output {shown(output)}; use output "
        yield ("loss",), message + " or ".join(family.outputs()) + other
    if output == "softmax" and dataset.classes < 2:
        yield ("model", "output"), "softmax needs at least two classes"
    for key in ("optimizer", "schedule"):
        section = getattr(config.train, key)
        takes = ", ".join(section.defaults())
        for stray in section.stray():
            message = f"not a setting of {key} {shown(section.name)}, which takes: {takes}"
            yield ("train", key, stray), message
    warmup, epochs = config.train.schedule.warmup_epochs, config.train.epochs
    if warmup >= epochs:
        message = f"got {warmup}; the warmup must end before the last epoch (train.epochs is "
        yield ("train", "schedule", "warmup_epochs"), message + f"{epochs})"
    stopping = config.train.early_stopping
    if stopping is not None and stopping.metric.startswith("val_") and not config.data.validation:
        message = (
            f"got {shown(stopping.metric)}, but data.validation is 0; hold out validation data "
            "(data.validation: 0.1) or stop on a train_ metric"
        )
        yield ("train", "early_stopping", "metric"), message
    yield from numerical_problems(config)
    yield from batch_problems(config)


def batch_problems(config: Config) -> Iterable[tuple[KeyPath, str]]:
    """Batch norm cannot train on a batch of one sample after dense layers (engine:
    Layer.min_batch; after convolutions one sample brings H*W values per channel)."""
    try:
        layers = compile_model(config, DATASETS.get(config.data.dataset), shapes_only=True).layers
    except LayerProblem:
        return  # reported by layer_problems
    need = max((layer.min_batch for layer in layers), default=1)
    if config.train.batch_size < need:
        yield (
            ("train", "batch_size"),
            f"got {config.train.batch_size}; batch norm needs batches of at least {need} "
            "samples (one sample is its own mean: the output would be beta and the gradient "
            "0); use a larger batch_size or remove batch norm",
        )


def numerical_problems(config: Config) -> Iterable[tuple[KeyPath, str]]:
    """Central differences need float64 and a loss that only the parameters move."""
    train = config.train
    if train.gradient != "numerical":
        return
    if train.dtype != "float64":
        yield (
            ("train", "gradient"),
            f"numerical needs train.dtype: float64 (now {train.dtype}); central "
            "differences in float32 keep only about 3 correct digits",
        )
    try:
        layers = compile_model(config, DATASETS.get(config.data.dataset), shapes_only=True).layers
    except LayerProblem:
        return  # reported by layer_problems
    kinds = {layer.kind for layer in layers if not layer.repeatable}
    if kinds:
        yield (
            ("train", "gradient"),
            f"numerical cannot train through {' or '.join(sorted(kinds))}: each forward "
            "pass would draw a new dropout mask or move batch norm's running moments; "
            "remove those layers or use gradient: backprop",
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
            f"first size {model.layers[0]} does not match dataset {shown(dataset.name)}, whose "
            f"inputs have {size} values ({shape}); start the layers with {size}",
        )
        return
    if not model.is_shorthand:
        entry_for = {"batch_norm": "batchnorm", "dropout": "{dropout: 0.5}"}
        for key in [k for k in sorted(entry_for) if getattr(model, k)]:
            yield (
                ("model", key),
                "applies to the 784-50-100-10 shorthand only; with a layer list, add "
                f"{entry_for[key]} entries instead",
            )
    try:
        compiled = compile_model(config, dataset, shapes_only=True)
    except TooLarge as problem:
        message = footprint.beyond_limit(
            problem.values, np.dtype(config.train.dtype), footprint.available_bytes()
        )
        yield (layers_key if model.is_shorthand else problem.path), message
        return
    except LayerProblem as problem:
        yield (layers_key if model.is_shorthand else problem.path), problem.message
        return
    yield from _output_problems(config, dataset, compiled)
    for index, entry in enumerate(model.entries()):
        if entry in ACTIVATIONS.names() and not ACTIVATIONS.get(entry).differentiable:
            key = ("model", "activation") if model.is_shorthand else (*layers_key, index)
            yield (
                key,
                f"got {shown(entry)}; its derivative is zero almost everywhere, so gradient "
                "descent cannot train through it; use sigmoid or relu",
            )
            break
    weighted = len(compiled.inits)
    for number in model.init_by_layer:
        if number > weighted:
            yield (
                ("model", "init_by_layer", number),
                f"layer {number} does not exist; the layers with weights are numbered 1 to "
                f"{weighted} (as the book's W1..W{weighted})",
            )


def _output_problems(
    config: Config, dataset: Dataset, compiled: Compiled
) -> Iterable[tuple[KeyPath, str]]:
    """The scores come from a last dense layer with one unit per class."""
    model = config.model
    layers_key: KeyPath = ("model", "layers")
    allowed = _output_sizes(model.output, dataset.classes)
    layers = compiled.layers
    # Only layers that pass the scores through (dropout, batch norm) may follow it.
    trailing = 0
    while trailing < len(layers) - 1 and layers[-1 - trailing].passes_scores:
        trailing += 1
    last = layers[-1 - trailing]
    last_index = len(model.layers) - 1 - trailing
    last_key = layers_key if model.is_shorthand else (*layers_key, last_index)
    units = compiled.shapes[-1 - trailing][0]
    if not isinstance(last, Affine):
        yield (
            last_key,
            f"the last layer must be {{dense: {allowed[0]}}}: the output activation "
            f"({model.output}) and the loss come after it",
        )
    elif units not in allowed:
        sizes = " or ".join(map(str, allowed))
        yield (
            last_key,
            f"last size {units} does not match dataset {shown(dataset.name)}, which has "
            f"{dataset.classes} classes; end the layers with {sizes} for output "
            f"{shown(model.output)}",
        )
