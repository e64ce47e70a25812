"""How a space key varies: a grid axis (a plain list) or a distribution, drawn from a
trial's own generator. Each distribution is one registry entry: its YAML name, its
arguments' checks (ValueError with the message after `file:line: space.KEY:`), its
draw, and whether it lives on a log axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dlzero_cli.config.schema import shown
from dlzero_cli.engine.registry import Registry


class Distribution:
    """A random value of a space key: `{name: arguments}` in the sweep file."""

    log_scale: ClassVar[bool] = False  # drawn on a log axis (and plotted on one)

    def draw(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


DISTRIBUTIONS: Registry[type[Distribution]] = Registry("distribution")


def _bounds(args: Any, name: str, kind: type | tuple[type, ...] = (int, float)) -> tuple:
    numbers = isinstance(args, list) and len(args) == 2
    if not numbers or not all(isinstance(v, kind) and not isinstance(v, bool) for v in args):
        what = "integers" if kind is int else "numbers"
        raise ValueError(f"got {shown(args)}; {name} takes two {what} [low, high]")
    low, high = args
    if not all(math.isfinite(v) for v in args):
        # .nan compares false with everything, so "low must be below high" would
        # suggest swapping the bounds, which cannot help.
        raise ValueError(
            f"got {shown(args)}; {name} bounds must be finite numbers, not .nan or .inf"
        )
    if not low < high:
        raise ValueError(
            f"got {shown(args)}; low must be below high, as in [{shown(high)}, {shown(low)}]"
        )
    return low, high


@DISTRIBUTIONS.register("loguniform", "uniform in log space between two positive bounds")
@dataclass(frozen=True)
class LogUniform(Distribution):
    low: float
    high: float
    log_scale: ClassVar[bool] = True

    @classmethod
    def parse(cls, args: Any) -> LogUniform:
        low, high = _bounds(args, "loguniform")
        if low <= 0:
            raise ValueError(
                f"got {shown(args)}; loguniform bounds must be positive (a log scale has no 0 "
                f"or negatives), e.g. [{high / 1e4:g}, {high:g}]"
            )
        return cls(float(low), float(high))

    def draw(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def describe(self) -> str:
        return f"loguniform [{self.low:g}, {self.high:g}]"


@DISTRIBUTIONS.register("uniform", "uniform between two numbers")
@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    @classmethod
    def parse(cls, args: Any) -> Uniform:
        low, high = _bounds(args, "uniform")
        return cls(float(low), float(high))

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def describe(self) -> str:
        return f"uniform [{self.low:g}, {self.high:g}]"


@DISTRIBUTIONS.register("int", "a whole number between two bounds, both included")
@dataclass(frozen=True)
class Int(Distribution):
    low: int
    high: int

    @classmethod
    def parse(cls, args: Any) -> Int:
        low, high = _bounds(args, "int", int)
        return cls(low, high)

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def describe(self) -> str:
        return f"int [{self.low}, {self.high}]"


@DISTRIBUTIONS.register("choice", "one of a list of values, each equally likely")
@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]

    @classmethod
    def parse(cls, args: Any) -> Choice:
        if not isinstance(args, list) or not args:
            raise ValueError(f"got {shown(args)}; choice takes a non-empty list of values")
        return cls(tuple(args))

    def draw(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def describe(self) -> str:
        return f"choice of {len(self.values)}"


@dataclass(frozen=True)
class GridAxis:
    """A plain list in the space: every value is tried."""

    values: tuple[Any, ...]
    log_scale: ClassVar[bool] = False

    def describe(self) -> str:
        return f"grid of {len(self.values)}"
