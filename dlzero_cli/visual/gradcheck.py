"""`dlzero gradcheck`: the book's gradient_check.py for any network dlzero builds.

A copy of the model in float64 (the weights of a RUN, or a CONFIG's fresh ones), a
few samples, one backward pass, and central differences per parameter entry
(engine/gradcheck.py). Each parameter is named as the book names it (W1, b1, gamma2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.engine.gradcheck import (
    ABSOLUTE_TOLERANCE,
    NETWORK_TOLERANCE,
    ParameterCheck,
    float64_copy,
    network_gradient_check,
)
from dlzero_cli.errors import UsageError
from dlzero_cli.pretrained import book_names
from dlzero_cli.runs.threads import blas_threads
from dlzero_cli.visual.sources import Subject, check_samples


@dataclass(frozen=True)
class CheckedParameter:
    book_name: str  # W1, b1, gamma2, ...
    check: ParameterCheck


@dataclass(frozen=True)
class GradcheckReport:
    subject: str
    trained: bool
    samples: str  # which samples
    entries: int | None  # per parameter at most; None: all
    tolerance: float
    absolute_tolerance: float
    parameters: tuple[CheckedParameter, ...]

    @property
    def failed(self) -> list[str]:
        return [p.book_name for p in self.parameters if not p.check.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "trained": self.trained,
            "samples": self.samples,
            "entries_per_parameter": self.entries,
            "tolerance": self.tolerance,
            "absolute_tolerance": self.absolute_tolerance,
            "passed": self.passed,
            "failed": self.failed,
            "parameters": [
                {
                    "name": p.book_name,
                    "network_name": p.check.name,
                    "shape": list(p.check.shape),
                    "size": p.check.size,
                    "checked": p.check.checked,
                    "kinks": p.check.kinks,
                    "max_abs_diff": p.check.max_abs_diff,
                    "relative_error": p.check.relative_error,
                    "passed": p.check.passed,
                }
                for p in self.parameters
            ],
        }


def gradcheck(
    subject: Subject,
    samples: int = 3,
    entries: int | None = 200,
    data_dir: Path | None = None,
    seed: int = 0,
) -> GradcheckReport:
    """Backprop against central differences for every parameter of `subject`'s model.

    Samples come from the dataset's training split when it is on disk (else seeded
    random inputs); `entries` caps the entries checked per parameter (a seeded
    sample), None checks all. `seed` fixes both draws.
    """
    if samples < 1:
        raise UsageError(f"--samples {samples}: give at least 1")
    if entries is not None and entries < 1:
        raise UsageError(f"--entries {entries}: give at least 1 (or --all)")
    model = subject.model
    for layer in model.network.layers:
        if not layer.differentiable:
            raise UsageError(
                f"{subject.name}: its {layer.kind} layer has no usable derivative, so there is "
                "no backward pass to check (use sigmoid or relu)"
            )
    rng = np.random.default_rng(seed)
    data = check_samples(subject, samples, data_dir, rng)
    network = float64_copy(model.network, np.random.default_rng(seed))
    x = model.normalizer(data.x, np.dtype(np.float64))
    # A few samples make matrices so small that a second BLAS thread only adds
    # synchronisation: DeepConvNet checks in 6 s on one thread, 28 s on two (2 cores).
    with blas_threads(1):
        checks = network_gradient_check(network, model.criterion(), x, data.y, rng, entries)
    names = book_names(network)
    return GradcheckReport(
        subject=subject.name,
        trained=subject.trained,
        samples=data.origin,
        entries=entries,
        tolerance=NETWORK_TOLERANCE,
        absolute_tolerance=ABSOLUTE_TOLERANCE,
        parameters=tuple(CheckedParameter(names[c.name], c) for c in checks),
    )
