"""From the config's `model.layers` to engine layers, with every shape checked.

Two ways to write a network, one result:

- the book's shorthand `784-50-100-10` with `activation`, `batch_norm` and `dropout`,
  which expands to dense layers with those in between (schema.expand_shorthand);
- a layer list, e.g. `[{conv: {filters: 30, kernel: 5}}, relu, {maxpool: 2},
  {dense: 100}, relu, {dense: 10}]`; each entry is a name (`relu`, `flatten`,
  `batchnorm`) or a one-key mapping whose value is the layer's settings or, for the
  common case, a single number (`{dense: 100}`, `{maxpool: 2}`, `{dropout: 0.5}`).

Nothing about a layer kind is declared here: names, settings, shape rules and the
meaning of a bare number come from the engine's layer classes (the LAYERS registry),
whose plain `Setting` declarations become pydantic models below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from dlzero_cli.config.schema import describe_error, registered, shown
from dlzero_cli.engine.activations import ACTIVATIONS
from dlzero_cli.engine.declaration import Setting, ShapeError
from dlzero_cli.engine.layers import LAYERS, Layer

Path = tuple[str | int, ...]


class LayerProblem(Exception):
    """A layer entry that cannot be built: `path` is below `model.layers[i]`."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


class TooLarge(LayerProblem):
    """The layers up to `path` would hold more than the build's limit of values."""

    def __init__(self, path: Path, values: int) -> None:
        super().__init__(path, f"the layers hold {values:,} values")
        self.values = values


@dataclass
class Compiled:
    """The layers, one sample's output shape after each, and per weighted layer
    (W1, W2, ...) its init override and the activation that follows it (which
    `init: auto` looks at)."""

    layers: list[Layer] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    inits: list[str | None] = field(default_factory=list)
    next_activation: list[str] = field(default_factory=list)


def _annotation(setting: Setting) -> Any:
    """The pydantic type of one engine Setting."""
    if setting.registry is not None:
        base = str | None if setting.nullable else str
        return Annotated[base, AfterValidator(registered(setting.registry, setting.nullable))]
    if setting.choices:
        return Literal[setting.choices]
    bounds = {
        key: value
        for key, value in (("ge", setting.minimum), ("gt", setting.above), ("lt", setting.below))
        if value is not None
    }
    annotation: Any = Annotated[setting.type, Field(**bounds)] if bounds else setting.type
    if setting.pair:
        annotation = annotation | tuple[annotation, annotation]
    if setting.nullable:
        annotation = annotation | None
    return annotation


@functools.cache
def settings_model(kind: type[Layer]) -> type[BaseModel]:
    """The pydantic model of a layer kind's settings, derived from its declaration."""
    fields = {s.name: (_annotation(s), ... if s.required else s.default) for s in kind.settings}
    config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
    return create_model(f"{kind.__name__}Settings", __config__=config, **fields)


def split_entry(entry: Any, path: Path) -> tuple[str, Any]:
    """An entry -> (kind name, raw settings): 'relu' or {'dense': 100} or {'conv': {...}}."""
    if isinstance(entry, str):
        name, raw = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        [(name, raw)] = entry.items()
        raw = {} if raw is None else raw
    else:
        raise LayerProblem(
            path,
            f"got {shown(entry)}; write a layer name like relu, or one mapping like {{dense: 100}} "
            "or {conv: {filters: 30, kernel: 5}}",
        )
    if name not in LAYERS:
        raise LayerProblem(path, LAYERS.unknown_message(name))
    return name, raw


def parse_settings(name: str, raw: Any, path: Path) -> dict[str, Any]:
    """A layer entry's validated settings, defaults filled in; LayerProblem otherwise."""
    kind = LAYERS.get(name)
    model = settings_model(kind)
    if not isinstance(raw, dict):
        if kind.shorthand is None:
            raise LayerProblem(
                path + (name,),
                f"got {shown(raw)}; {name} takes settings "
                f"{', '.join(model.model_fields) or '(none)'} as a mapping",
            )
        raw = {kind.shorthand: raw}
    try:
        return dict(model.model_validate(raw))
    except ValidationError as exc:
        # A misspelt key also leaves its right spelling "missing": report the cause.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        error = errors[0]
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        if error["type"] == "extra_forbidden":
            error = {**error, "allowed": list(model.model_fields)}
        message = describe_error(error)
        if error["type"] == "extra_forbidden" and not model.model_fields:
            message = f"unknown key; {name} takes no settings"
        raise LayerProblem(path + (name, *loc[:1]), message) from None


def compile_layers(
    entries: list[Any],
    input_shape: tuple[int, ...],
    path_of: Callable[[int], Path],
    dtype: np.dtype | type = np.float32,
    rng: np.random.Generator | None = None,
    limit: int | None = None,
) -> Compiled:
    """Layers for `entries` from one sample's `input_shape`; LayerProblem on the first
    entry that cannot be built (its path from `path_of(index)`). The layers have zero
    parameters; `rng` is the generator of those that draw random numbers (dropout).

    With `limit`, TooLarge before building the layer that would bring the values the
    layers hold (each kind's held_values) past it."""
    compiled = Compiled()
    shape = tuple(input_shape)
    dtype = np.dtype(dtype)
    values = 0
    for index, entry in enumerate(entries):
        path = path_of(index)
        name, raw = split_entry(entry, path)
        settings = parse_settings(name, raw, path)
        kind = LAYERS.get(name)
        values += kind.held_values(settings, shape)
        if limit is not None and values > limit:
            raise TooLarge(path, values)
        try:
            layer = kind.build(settings, shape, dtype, rng)
            shape = layer.output_shape(shape)
        except ShapeError as problem:
            where = (name,) if problem.setting is None else (name, problem.setting)
            raise LayerProblem(path + where, str(problem)) from None
        compiled.layers.append(layer)
        compiled.shapes.append(shape)
        if kind.weighted:
            compiled.inits.append(settings.get("init"))
            compiled.next_activation.append(_next_activation(entries, index))
    return compiled


def _next_activation(entries: list[Any], index: int) -> str:
    for entry in entries[index + 1 :]:
        name = entry if isinstance(entry, str) else next(iter(entry), "")
        if name in ACTIVATIONS:
            return name
        if name in LAYERS and LAYERS.get(name).weighted:
            break
    return "identity"
