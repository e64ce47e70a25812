"""How a layer kind declares itself: its settings as plain data, its shape errors, and
the registry that names it. The engine stays free of any validation library; the
config package turns `Setting`s into its schema (config/layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlzero_cli.engine.init import INITIALIZERS
from dlzero_cli.engine.registry import Registry

if TYPE_CHECKING:
    from dlzero_cli.engine.layers import Layer


class LayerKinds(Registry["type[Layer]"]):
    """The LAYERS registry: the name a class is registered under becomes its `kind`, so
    a layer kind's name is written once, in its `@LAYERS.register(...)` line."""

    def add(self, name: str, value: type[Layer], description: str = "") -> None:
        super().add(name, value, description)
        value.kind = name


REQUIRED: Any = object()  # a Setting without a default must be given


@dataclass(frozen=True)
class Setting:
    """One setting a layer-list entry takes, e.g. conv's `kernel`, as plain data.

    The engine names types and bounds without any validation library; the config
    package turns these into its schema and its error messages. Bounds: `minimum` is
    inclusive, `above` and `below` exclusive.
    """

    name: str
    type: type  # int, float or str
    default: Any = REQUIRED
    minimum: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple[str, ...] = ()
    registry: Registry[Any] | None = None  # a name registered there, or null
    pair: bool = False  # a number, or two: [height, width]
    nullable: bool = False  # null is allowed (and means "the usual")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


class ShapeError(ValueError):
    """A layer that does not fit its input; `setting` names the setting to change,
    or None when the layer as a whole is out of place."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


INIT_SETTING = Setting("init", str, None, registry=INITIALIZERS, nullable=True)


def image_shape(shape: tuple[int, ...], kind: str) -> tuple[int, int, int]:
    """`shape` as (channels, height, width), or a ShapeError for a layer `kind` that
    needs images."""
    if len(shape) != 3:
        raise ShapeError(
            f"{kind} needs image inputs (channels x height x width), but its input has shape "
            f"{'x'.join(map(str, shape))}; put it before any dense or flatten layer"
        )
    return shape  # type: ignore[return-value]
