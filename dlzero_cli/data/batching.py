"""Mini-batch index streams for one epoch.

A sampler is (n, batch_size, rng, min_batch=1) -> the epoch's batches of indices.
`min_batch` is the smallest batch the network can train on (2 with batch norm, whose
statistics of a single sample are that sample: output beta, gradient 0, running
variance pulled towards 0). A shuffled epoch whose last batch would be smaller joins
it to the batch before; with min_batch 1 the batches are those of earlier versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from dlzero_cli.engine.registry import Registry

Sampler = Callable[..., Iterator[np.ndarray]]
SAMPLERS: Registry[Sampler] = Registry("sampling")


@SAMPLERS.register("shuffle", "a new permutation each epoch; every sample once per epoch")
def shuffled_batches(
    n: int, batch_size: int, rng: np.random.Generator, min_batch: int = 1
) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_batch:
        starts.pop()  # the short last batch joins the one before it
    ends = [*starts[1:], n]
    for start, end in zip(starts, ends, strict=True):
        yield order[start:end]


@SAMPLERS.register("random", "batch_size indices drawn at random each step, as the book does")
def random_batches(
    n: int, batch_size: int, rng: np.random.Generator, min_batch: int = 1
) -> Iterator[np.ndarray]:
    # The book's loop: an "epoch" is n / batch_size draws of np.random.choice(n, batch_size).
    # Every batch has batch_size samples, so min_batch has nothing to merge.
    for _ in range(max(n // batch_size, 1)):
        yield rng.choice(n, batch_size)


def merged_leftover(sampling: str, n: int, batch_size: int, min_batch: int) -> int:
    """How many samples of a short last batch join the batch before it each epoch
    (0: none), for telling the user so."""
    sampler = SAMPLERS.get(sampling)
    plain = [len(b) for b in sampler(n, batch_size, np.random.default_rng(0))]
    merged = [len(b) for b in sampler(n, batch_size, np.random.default_rng(0), min_batch)]
    return plain[-1] if len(merged) < len(plain) else 0


def sequential_batches(n: int, batch_size: int) -> Iterator[slice]:
    """Evaluation order: contiguous slices, no copies of the index."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
