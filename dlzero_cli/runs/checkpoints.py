"""Checkpoints while a run trains: taken in memory after every epoch, written to
checkpoint.npz and metrics.csv at most once a second (and always when the run stops),
and restored into a model, optimizer and generator to resume bit-identically."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from dlzero_cli.diagnostics import DiagnosticRow
from dlzero_cli.engine.optim import Optimizer
from dlzero_cli.model import Model, WeightSnapshot
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.formats import Checkpoint
from dlzero_cli.training import TrainState


class Checkpointer:
    """Keeps checkpoint.npz and metrics.csv current as epochs complete.

    The training state is snapshotted in memory after every epoch; both files are
    written when a second has passed since the last write, and always by `flush` (at
    the end, on Ctrl-C, SIGTERM, divergence or failure). Epochs longer than a second
    are thus each on disk; runs of thousands of millisecond epochs (the logic gates) do
    not spend their time writing, and a SIGKILL loses at most a second of work.
    Resuming from any epoch boundary is exact.
    """

    INTERVAL = 1.0

    def __init__(
        self,
        folder: RunFolder,
        model: Model,
        rng: np.random.Generator,
        diagnostics: list[DiagnosticRow] | None = None,
    ) -> None:
        self.folder, self.model, self.rng = folder, model, rng
        self.diagnostics = diagnostics  # the probe's rows, written alongside
        self.pending: Checkpoint | None = None
        self.written_at = time.perf_counter()

    def __call__(self, state: TrainState, optimizer: Optimizer, current: WeightSnapshot) -> None:
        # A snapshot of this epoch: `current` is a copy already, the records are frozen,
        # and the history list is copied (fit goes on appending to its own).
        snapshot = replace(state, history=list(state.history))
        diagnostics = None
        if self.diagnostics is not None:
            diagnostics = tuple(r for r in self.diagnostics if r.epoch <= state.epoch)
        self.pending = Checkpoint(
            snapshot, current, optimizer.state_dict(), self.rng.bit_generator.state, diagnostics
        )
        if time.perf_counter() - self.written_at >= self.INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        checkpoint = self.pending
        self.folder.write_checkpoint(self.model, checkpoint)
        self.folder.write_metrics(checkpoint.state.history)
        if checkpoint.diagnostics is not None:
            self.folder.write_diagnostics(list(checkpoint.diagnostics))
        self.pending = None
        self.written_at = time.perf_counter()


def restore_checkpoint(
    folder: RunFolder, model: Model, optimizer: Optimizer, rng: np.random.Generator
) -> Checkpoint:
    """Put a run's checkpoint into the model, optimizer and generator; the checkpoint
    (its state and diagnostics rows)."""
    checkpoint = folder.read_checkpoint()
    try:
        model.restore(checkpoint.current)
        optimizer.load_state_dict(checkpoint.optimizer)
        rng.bit_generator.state = checkpoint.rng
    except (KeyError, ValueError, TypeError) as exc:
        raise folder.inconsistent_checkpoint(exc) from None
    return checkpoint
