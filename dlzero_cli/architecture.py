"""From the config's `model.layers` to the engine's layer specs, with every shape checked.

Two ways to write a network, one result:

- the book's shorthand `784-50-100-10` with `activation`, `batch_norm` and `dropout`,
  which expands to dense layers with those in between;
- a layer list, e.g. `[{conv: {filters: 30, kernel: 5}}, relu, {maxpool: 2},
  {dense: 100}, relu, {dense: 10}]`; each entry is a name (`relu`, `flatten`,
  `batchnorm`) or a one-key mapping whose value is the layer's settings or, for the
  common case, a single number (`{dense: 100}`, `{maxpool: 2}`, `{dropout: 0.5}`).

`compile_layers` walks the entries from the dataset's input shape, validates each
entry's settings, infers channels and sizes, and returns the engine specs (what
`Sequential.from_spec` builds) or the problems, each with its key path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from dlzero_cli.engine import conv  # noqa: F401  (registers the conv and pooling layers)
from dlzero_cli.engine.conv import conv_output_size
from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.layers import ACTIVATIONS
from dlzero_cli.engine.registry import Registry

Path = tuple[str | int, ...]


def _init_name(name: str | None) -> str | None:
    if name is not None and name not in INITIALIZERS:
        raise ValueError(f"got {name!r}; {INITIALIZERS.choices_hint(name)}")
    return name


InitName = Annotated[str | None, AfterValidator(_init_name)]
Size = Annotated[int, Field(ge=1)]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DenseArgs(_Args):
    units: Size
    init: InitName = None


class ConvArgs(_Args):
    filters: Size
    kernel: Size | tuple[Size, Size]
    stride: Size = 1
    padding: Annotated[int, Field(ge=0)] = 0
    init: InitName = None


class PoolArgs(_Args):
    size: Size
    stride: Size | None = None  # the window size: windows side by side
    padding: Annotated[int, Field(ge=0)] = 0


class DropoutArgs(_Args):
    ratio: Annotated[float, Field(ge=0, lt=1)]
    scale: Literal["train", "inference"] = "train"


class BatchNormArgs(_Args):
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    eps: Annotated[float, Field(gt=0)] = 1e-5


class NoArgs(_Args):
    pass


class LayerProblem(Exception):
    """A layer entry that cannot be built: `path` is below `model.layers[i]`."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


@dataclass
class Compiled:
    """Engine specs, and per weighted layer (W1, W2, ...) its init override and the
    activation that follows it (which `init: auto` looks at)."""

    specs: list[dict[str, Any]] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # output shape per spec
    inits: list[str | None] = field(default_factory=list)
    next_activation: list[str] = field(default_factory=list)


Resolver = Callable[[Any, tuple[int, ...], Path], tuple[dict[str, Any], tuple[int, ...]]]


@dataclass(frozen=True)
class LayerKind:
    args: type[_Args]
    shorthand: str | None  # the setting a bare number stands for: {dense: 100}
    resolve: Resolver
    weighted: bool = False


LAYER_KINDS: Registry[LayerKind] = Registry("layer")


def _image(shape: tuple[int, ...], what: str, path: Path) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise LayerProblem(
            path,
            f"{what} needs image inputs (channels x height x width), but its input has shape "
            f"{'x'.join(map(str, shape))}; put it before any dense or flatten layer",
        )
    return shape  # type: ignore[return-value]


def _dense(args: DenseArgs, shape, path):
    size = int(np.prod(shape))
    return {"type": "affine", "in": size, "out": args.units}, (args.units,)


def _conv(args: ConvArgs, shape, path):
    channels, h, w = _image(shape, "conv", path)
    kh, kw = (args.kernel, args.kernel) if isinstance(args.kernel, int) else args.kernel
    oh = conv_output_size(h, kh, args.stride, args.padding)
    ow = conv_output_size(w, kw, args.stride, args.padding)
    if oh < 1 or ow < 1:
        raise LayerProblem(
            path + ("kernel",),
            f"a {kh}x{kw} kernel with padding {args.padding} does not fit the {h}x{w} input; "
            "use a smaller kernel or more padding",
        )
    spec = {
        "type": "conv", "filters": args.filters, "channels": channels, "kernel": [kh, kw],
        "stride": args.stride, "pad": args.padding,
    }  # fmt: skip
    return spec, (args.filters, oh, ow)


def _pool(kind: str) -> Resolver:
    def resolve(args: PoolArgs, shape, path):
        channels, h, w = _image(shape, kind, path)
        stride = args.stride or args.size
        oh = conv_output_size(h, args.size, stride, args.padding)
        ow = conv_output_size(w, args.size, stride, args.padding)
        if oh < 1 or ow < 1:
            raise LayerProblem(
                path, f"a {args.size}x{args.size} window does not fit the {h}x{w} input"
            )
        spec = {"type": kind, "size": args.size, "stride": stride, "pad": args.padding}
        return spec, (channels, oh, ow)

    return resolve


def _dropout(args: DropoutArgs, shape, path):
    return {"type": "dropout", "ratio": args.ratio, "scale": args.scale}, shape


def _batchnorm(args: BatchNormArgs, shape, path):
    # Conv feature maps are normalised per channel; dense outputs per unit.
    kind = "batchnorm2d" if len(shape) == 3 else "batchnorm"
    features = shape[0] if len(shape) == 3 else int(np.prod(shape))
    spec = {"type": kind, "features": features, "momentum": args.momentum, "eps": args.eps}
    return spec, shape


def _flatten(args: NoArgs, shape, path):
    return {"type": "flatten"}, (int(np.prod(shape)),)


def _activation(name: str) -> Resolver:
    return lambda args, shape, path: ({"type": name}, shape)


LAYER_KINDS.add("dense", LayerKind(DenseArgs, "units", _dense, weighted=True), "fully connected")
LAYER_KINDS.add("conv", LayerKind(ConvArgs, None, _conv, weighted=True), "2-D convolution")
LAYER_KINDS.add("maxpool", LayerKind(PoolArgs, "size", _pool("maxpool")), "max pooling")
LAYER_KINDS.add("avgpool", LayerKind(PoolArgs, "size", _pool("avgpool")), "average pooling")
LAYER_KINDS.add("dropout", LayerKind(DropoutArgs, "ratio", _dropout), "dropout")
LAYER_KINDS.add("batchnorm", LayerKind(BatchNormArgs, None, _batchnorm), "batch normalisation")
LAYER_KINDS.add("flatten", LayerKind(NoArgs, None, _flatten), "to one vector per sample")
for _name in ACTIVATIONS:
    LAYER_KINDS.add(_name, LayerKind(NoArgs, None, _activation(_name)), "activation")


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
            f"got {entry!r}; write a layer name like relu, or one mapping like {{dense: 100}} "
            "or {conv: {filters: 30, kernel: 5}}",
        )
    if name not in LAYER_KINDS:
        raise LayerProblem(path, LAYER_KINDS.unknown_message(name))
    return name, raw


def parse_args(name: str, raw: Any, path: Path, describe: Callable[[dict], str]) -> _Args:
    kind = LAYER_KINDS.get(name)
    if not isinstance(raw, dict):
        if kind.shorthand is None:
            raise LayerProblem(
                path + (name,),
                f"got {raw!r}; {name} takes settings "
                f"{', '.join(kind.args.model_fields) or '(none)'} as a mapping",
            )
        raw = {kind.shorthand: raw}
    try:
        return kind.args.model_validate(raw)
    except ValidationError as exc:
        # A misspelt key also leaves its right spelling "missing": report the cause.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        error = errors[0]
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        if error["type"] == "extra_forbidden":
            error = {**error, "allowed": list(kind.args.model_fields)}
        raise LayerProblem(path + (name, *loc[:1]), describe(error)) from None


def expand_shorthand(
    sizes: tuple[int, ...], activation: str, batch_norm: bool, dropout: float
) -> list[Any]:
    """784-50-100-10 -> the equivalent layer list (the first size is the input's)."""
    entries: list[Any] = []
    hidden = sizes[1:-1]
    for units in hidden:
        entries.append({"dense": units})
        if batch_norm:  # the book's order: affine -> batch norm -> activation -> dropout
            entries.append("batchnorm")
        entries.append(activation)
        if dropout:
            entries.append({"dropout": dropout})
    entries.append({"dense": sizes[-1]})
    return entries


def compile_layers(
    entries: list[Any],
    input_shape: tuple[int, ...],
    describe: Callable[[dict], str],
    path_of: Callable[[int], Path],
) -> Compiled:
    """Engine specs for `entries` starting from `input_shape`; LayerProblem on the first
    entry that cannot be built (its path from `path_of(index)`)."""
    compiled = Compiled()
    shape = tuple(input_shape)
    for index, entry in enumerate(entries):
        path = path_of(index)
        name, raw = split_entry(entry, path)
        args = parse_args(name, raw, path, describe)
        spec, shape = LAYER_KINDS.get(name).resolve(args, shape, path + (name,))
        compiled.specs.append(spec)
        compiled.shapes.append(shape)
        if LAYER_KINDS.get(name).weighted:
            compiled.inits.append(getattr(args, "init", None))
            compiled.next_activation.append(_next_activation(entries, index))
    return compiled


def _next_activation(entries: list[Any], index: int) -> str:
    for entry in entries[index + 1 :]:
        name = entry if isinstance(entry, str) else next(iter(entry), "")
        if name in ACTIVATIONS:
            return name
        if name in ("dense", "conv"):
            break
    return "identity"
