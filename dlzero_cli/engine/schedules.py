"""Learning-rate schedules: the lr of each epoch from the optimizer's base lr.

A schedule is a function (base_lr, epoch, epochs, **settings) -> lr, with `epoch`
counted from 1 and the settings as keyword arguments with defaults (which the config
validates against). Any schedule can start with a linear warmup (see `lr_for_epoch`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from dlzero_cli.engine.registry import Registry

Schedule = Callable[..., float]
SCHEDULES: Registry[Schedule] = Registry("schedule")


@SCHEDULES.register("constant", "the base lr every epoch")
def constant(base_lr: float, epoch: int, epochs: int) -> float:
    return base_lr


@SCHEDULES.register("step", "multiply by gamma every step_size epochs")
def step(base_lr: float, epoch: int, epochs: int, step_size: int = 10, gamma: float = 0.1):
    return base_lr * gamma ** ((epoch - 1) // step_size)


@SCHEDULES.register("exponential", "multiply by gamma every epoch")
def exponential(base_lr: float, epoch: int, epochs: int, gamma: float = 0.95) -> float:
    return base_lr * gamma ** (epoch - 1)


@SCHEDULES.register("cosine", "half a cosine from the base lr down towards min_lr")
def cosine(base_lr: float, epoch: int, epochs: int, min_lr: float = 0.0) -> float:
    progress = (epoch - 1) / max(epochs, 1)
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2


def settings_of(name: str) -> dict[str, Any]:
    """Setting -> default of a registered schedule (what a config may give)."""
    parameters = inspect.signature(SCHEDULES.get(name)).parameters
    return {k: p.default for k, p in parameters.items() if k not in ("base_lr", "epoch", "epochs")}


def lr_for_epoch(
    name: str,
    base_lr: float,
    epoch: int,
    epochs: int,
    warmup_epochs: int = 0,
    **settings: Any,
) -> float:
    """The lr of `epoch` (from 1): a linear warmup over `warmup_epochs`, then the schedule.

    Warmup epoch k of w uses base_lr * k / w; the schedule then runs over the remaining
    epochs as if they were all there were.
    """
    if epoch <= warmup_epochs:
        return base_lr * epoch / warmup_epochs
    return SCHEDULES.get(name)(base_lr, epoch - warmup_epochs, epochs - warmup_epochs, **settings)
