"""How training and evaluation look: a rich progress bar on a terminal, plain lines in
logs.

Each training display is a `RunCallbacks`: the run calls it as training goes. An
evaluation reports (samples done, samples in all) after each batch to `eval_progress`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dlzero_cli.cli.common import fmt, report_note, stderr, stdout
from dlzero_cli.runs.lifecycle import RunCallbacks

if TYPE_CHECKING:
    from dlzero_cli.data.datasets import Arrays
    from dlzero_cli.evaluation import Progress as EvalProgress
    from dlzero_cli.model import Model
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.training import EpochRecord

# In logs, runs of thousands of tiny epochs (the logic gates) print at most this many
# epoch lines; the first and the last epoch always print.
MAX_LOG_LINES = 100
# An evaluation in logs: a progress line at most this often (none for a quick one).
EVAL_LOG_SECONDS = 5.0


def epoch_line(record: EpochRecord, epochs: int) -> str:
    width = len(str(epochs))
    parts = [
        f"epoch {record.epoch:>{width}}/{epochs}",
        f"train_loss {fmt(record.train_loss)}",
        f"train_acc {fmt(record.train_acc)}",
    ]
    if record.val_loss is not None:
        parts += [f"val_loss {fmt(record.val_loss)}", f"val_acc {fmt(record.val_acc)}"]
    parts.append(f"{record.seconds:.2f}s")
    return "  ".join(parts)


def print_network(model: Model, batch: int) -> None:
    from dlzero_cli.cli.tables import network_table

    rows = model.network.summary(model.input_shape)
    stdout.print(network_table(rows, model.input_shape, batch, "network"))


def run_line(folder: RunFolder, model: Model, splits: dict[str, Arrays]) -> str:
    sizes = " / ".join(f"{len(a)} {name}" for name, a in splits.items())
    params = model.network.parameter_count()
    return f"run {folder.path}  dataset {model.dataset}: {sizes}  parameters {params:,}"


def _epoch_shown(epoch: int, epochs: int) -> bool:
    """At most about MAX_LOG_LINES epoch lines: the first, the last, and evenly between."""
    return epoch in (1, epochs) or epoch % math.ceil(epochs / MAX_LOG_LINES) == 0


class QuietDisplay(RunCallbacks):
    """--quiet: nothing until the final table."""

    def close(self) -> None:
        pass


class LogDisplay(RunCallbacks):
    """Plain lines on stdout, for logs and pipes."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def run_started(self, folder: RunFolder, model: Model, splits: dict[str, Arrays]) -> None:
        print_network(model, self.batch)
        print(run_line(folder, model, splits), flush=True)

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs = epochs

    def notice(self, message: str) -> None:
        report_note(message)

    def epoch_done(self, record: EpochRecord) -> None:
        if _epoch_shown(record.epoch, self.epochs):
            print(epoch_line(record, self.epochs), flush=True)

    def close(self) -> None:
        pass


class BarDisplay(RunCallbacks):
    """A live bar over all steps, with the latest epoch's metrics and the time left
    beside it; each finished epoch's line is printed above the bar and stays."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=stdout,
            transient=False,
        )
        self.task = None

    def run_started(self, folder: RunFolder, model: Model, splits: dict[str, Arrays]) -> None:
        print_network(model, self.batch)
        stdout.print(run_line(folder, model, splits))

    def notice(self, message: str) -> None:
        report_note(message)

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs = epochs
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(
                "epoch", total=epochs * steps, completed=(epoch - 1) * steps, metrics=""
            )
        self.bar.update(self.task, description=f"epoch {epoch}/{epochs}")

    def step_done(self, step: int, loss: float) -> None:
        self.bar.advance(self.task)

    def epoch_done(self, record: EpochRecord) -> None:
        metrics = f"loss {fmt(record.train_loss)} acc {fmt(record.train_acc)}"
        if record.val_loss is not None:
            metrics += f"  val_loss {fmt(record.val_loss)} val_acc {fmt(record.val_acc)}"
        self.bar.update(self.task, metrics=metrics)
        if _epoch_shown(record.epoch, self.epochs):
            self.bar.console.print(epoch_line(record, self.epochs), highlight=False)

    def close(self) -> None:
        self.bar.stop()


def make_display(quiet: bool, batch: int) -> RunCallbacks:
    """--quiet: nothing until the final table; a live bar on a terminal; lines otherwise.
    The network's table (`dlzero summary`) comes first unless quiet."""
    if quiet:
        return QuietDisplay()
    return BarDisplay(batch) if stdout.is_terminal else LogDisplay(batch)


@contextmanager
def eval_progress() -> Iterator[EvalProgress]:
    """A `progress(done, total)` for `evaluate`: a bar with the time left on stderr when
    it is a terminal (gone when done), else a plain line now and then (PlainEvalProgress).
    stderr, so that `eval --json` keeps stdout to its JSON."""
    if stderr.is_terminal:
        bar = Progress(
            TextColumn("[bold]evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        task = bar.add_task("evaluating", total=None)
        with bar:
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    yield PlainEvalProgress()


class PlainEvalProgress:
    """`evaluating: 5,000/10,000 samples (50%)` on stderr, at most one line every
    EVAL_LOG_SECONDS: a quick evaluation says nothing, a long one shows it is alive."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last = clock()
        self.printed = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        finished = done == total and self.printed  # a shown evaluation says it ended
        if now - self.last < EVAL_LOG_SECONDS and not finished:
            return
        self.last, self.printed = now, True
        print(f"evaluating: {done:,}/{total:,} samples ({done * 100 // max(total, 1)}%)",
              file=sys.stderr, flush=True)  # fmt: skip
