"""What both benchmark scripts share: options, alternating rounds, the printed ratio.

The two sides take turns for `--rounds` rounds and each side's best round counts: this
2-core machine is shared, and single runs of either side vary by up to 40%.
"""

from __future__ import annotations

import argparse
import os
import resource
from collections.abc import Callable

Rates = tuple[float, float]  # (training samples/s, inference samples/s)


def options(description: str, samples: int, epochs: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--samples", type=int, default=samples)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    return parser


def compare(
    rounds: int,
    ours: Callable[[int], Rates],
    theirs: Callable[[], Rates | None],
    unit: str = "samples/s",
) -> None:
    """Alternate `ours(round)` and `theirs()`, then print each side's best and the ratio."""
    our_runs, their_runs = [], []
    for round_ in range(rounds):
        our_runs.append(ours(round_))
        their_runs.append(theirs())
    best = (max(r[0] for r in our_runs), max(r[1] for r in our_runs))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dlzero   train {best[0]:>10,.0f} samples/s   inference {best[1]:>10,.0f} {unit}   "
          f"(peak RSS of the process {peak:,.0f} MB)")  # fmt: skip
    if their_runs[0] is None:
        print("pytorch  not importable: install torch==2.13.0 in this venv to compare")
        return
    other = (max(r[0] for r in their_runs), max(r[1] for r in their_runs))
    print(f"pytorch  train {other[0]:>10,.0f} samples/s   inference {other[1]:>10,.0f} {unit}")
    print(f"ratio    train {best[0] / other[0]:>10.2f}x          inference "
          f"{best[1] / other[1]:>10.2f}x   (dlzero / pytorch)")  # fmt: skip
