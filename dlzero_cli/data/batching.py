"""Mini-batch index streams for one epoch."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from dlzero_cli.engine.registry import Registry

Sampler = Callable[[int, int, np.random.Generator], Iterator[np.ndarray]]
SAMPLERS: Registry[Sampler] = Registry("sampling")


@SAMPLERS.register("shuffle", "a new permutation each epoch; every sample once per epoch")
def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


@SAMPLERS.register("random", "batch_size indices drawn at random each step, as the book does")
def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    # The book's loop: an "epoch" is n / batch_size draws of np.random.choice(n, batch_size).
    for _ in range(max(n // batch_size, 1)):
        yield rng.choice(n, batch_size)


def sequential_batches(n: int, batch_size: int) -> Iterator[slice]:
    """Evaluation order: contiguous slices, no copies of the index."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
