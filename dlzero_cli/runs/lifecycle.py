"""A run's life cycle without the CLI: train it or resume it (`importing` imports one).

The run folder's summary.json always tells the truth (`running` -> `completed`,
`interrupted`, `diverged` or `failed`). After every epoch a checkpoint (weights,
optimizer state, generator state, epoch, metrics, best weights) is taken, so a run
stopped by Ctrl-C, SIGTERM or SIGKILL can be resumed and ends bit-identical to one
that was never stopped.

A new run is set up in a hidden partial folder (config.yaml, summary.json and the
checkpoint of epoch 0) and renamed to its real name only then: a run folder is
resumable from the moment it appears. Training holds the folder's lock, so a second
process cannot train it at the same time. The checkpoint, not summary.json, is the
source of truth for resuming. While the final files are written, Ctrl-C and SIGTERM
wait (`signals`), so that a second Ctrl-C cannot leave the status at `running`;
checkpoints are taken and restored by `checkpoints`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli.config import LoadedConfig, ModelConfig
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.data.datasets import Arrays
from dlzero_cli.diagnostics import DiagnosticRow, Probe, diagnostic_indices, hidden_activations
from dlzero_cli.errors import DlzeroError, RunError, TrainingDiverged, WriteError
from dlzero_cli.evaluation import Evaluation, evaluate
from dlzero_cli.model import (
    Model,
)
from dlzero_cli.pretrained import book_names
from dlzero_cli.runs.checkpoints import Checkpointer, restore_checkpoint
from dlzero_cli.runs.documents import RESUMABLE, Environment, Outcome, Score, Summary
from dlzero_cli.runs.folder import RunFolder, utc_now
from dlzero_cli.runs.manifest import make_manifest, split_digests
from dlzero_cli.runs.planning import numerical_slowdown, plan_numerical, refuse_slow_numerical
from dlzero_cli.runs.signals import signals_deferred
from dlzero_cli.runs.splits import load_splits
from dlzero_cli.runs.threads import blas_threads, current_environment, versions
from dlzero_cli.training import (
    EpochRecord,
    FitCallbacks,
    TrainState,
    fit,
    make_optimizer,
)


class RunCallbacks(FitCallbacks):
    """What a run tells its caller: `fit`'s callbacks, plus the run's start."""

    def run_started(self, folder: RunFolder, model: Model, splits: dict[str, Arrays]) -> None: ...


@dataclass(frozen=True)
class TrainResult:
    folder: RunFolder
    history: list[EpochRecord]
    test: Evaluation  # the best epoch's weights on the test split
    summary: Summary
    # train.gradient: numerical: its seconds per step over backprop's on the same network
    slowdown: float | None = None


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; it can be resumed from `folder`.

    `status` is what summary.json says now: `interrupted`; or, when the signal came
    while a run that had stopped for another reason wrote its files, that reason's
    status (`completed`, `diverged` or `failed`: the more specific truth is kept, and
    the signal still ends the command with exit 130); `problems` lists the files that
    could not be written on the way out (then the status may be older)."""

    def __init__(
        self, folder: RunFolder, status: str = "interrupted", problems: tuple[str, ...] = ()
    ) -> None:
        super().__init__(str(folder.path))
        self.folder, self.status, self.problems = folder, status, problems


def layers_text(model: ModelConfig) -> str:
    """model.layers on one line: 64-50-100-10, or conv(30,5)-relu-maxpool(2)-dense(100)."""
    if model.is_shorthand:
        return "-".join(map(str, model.layers))

    def entry_text(entry: Any) -> str:
        if isinstance(entry, dict) and len(entry) == 1:
            [(kind, settings)] = entry.items()
            values = settings.values() if isinstance(settings, dict) else [settings]
            return f"{kind}({','.join(map(str, values))})"
        return str(entry)

    return "-".join(entry_text(entry) for entry in model.layers)


# --------------------------------------------------------------------------- training


def train_from_config(
    loaded: LoadedConfig,
    runs_dir: Path,
    callbacks: RunCallbacks | None = None,
    data_dir: Path | None = None,
    threads: int | None = None,
) -> TrainResult:
    """A new run folder for `loaded`, trained to the end.

    `threads` fixes the BLAS threads for the run (restored afterwards); None leaves
    them as they are. Either way manifest.json records the count in effect. The folder
    appears (under its real name) only once it can be resumed; a failure before that
    leaves nothing behind.
    """
    config = loaded.config
    splits = load_splits(loaded, data_dir)
    if config.train.gradient == "numerical":
        refuse_slow_numerical(plan_numerical(loaded, splits))
    # The partial folder's lock is the run's training lock from its first moment; the
    # folder is removed if it was never published (setting up failed).
    # One moment names the folder and is its start time: a damaged summary.json's start
    # time is read back from the folder's name (to the second).
    started = utc_now()
    with RunFolder.staged(runs_dir, config.name, started) as staged:
        staged.write_config(config)
        with blas_threads(threads):
            environment = current_environment(threads)
            return _train(
                staged, loaded, splits, callbacks or RunCallbacks(), None, environment, started
            )


def resume_run(
    folder: RunFolder,
    callbacks: RunCallbacks | None = None,
    data_dir: Path | None = None,
    threads: int | None = None,
    restart: bool = False,
    note: Callable[[str], None] | None = None,
) -> TrainResult:
    """Continue an interrupted run in its own folder from its last checkpoint.

    Without `threads`, a run whose manifest asked for a BLAS thread count continues
    with that count, so that it ends as an uninterrupted run would. The checkpoint is
    the source of truth: a corrupt summary.json does not stop a resume, nor does one
    that says the run finished while its checkpoint says it did not (`note` is told);
    a missing checkpoint does (RunError) unless `restart`, which trains the run again
    from epoch 1 in the same folder. RunLocked when another process is training the
    folder.
    """
    folder.refuse_newer_format()
    with folder.lock():
        try:
            previous: Summary | None = folder.read_summary()
            damaged = None
        except RunError as exc:
            previous, damaged = None, exc  # the checkpoint says where the run stands
        if previous is not None and previous.status not in RESUMABLE:
            unfinished = _unfinished_epochs(folder)
            if unfinished is None:
                raise RunError(
                    f"{folder.path}: status is {previous.status!r}; only a run that is "
                    f"{', '.join(RESUMABLE[:-1])} or {RESUMABLE[-1]} can be resumed"
                )
            if note is not None:
                note(
                    f"{folder.summary_path} says {previous.status!r}, but its checkpoint "
                    f"is at epoch {unfinished[0]} of {unfinished[1]}: resuming from the "
                    "checkpoint"
                )
        if not restart and not folder.has_checkpoint():
            raise RunError(
                f"{folder.checkpoint_path}: missing, so the run cannot continue where it "
                f"stopped; to train it again from epoch 1 in the same folder: "
                f"dlzero train --resume {folder.path} --restart"
            )
        loaded = folder.read_config()
        if folder.config_upgrades():
            # An older run's config with today's names (its `nesterov` is the book's):
            # written back before its summary takes today's run format.
            folder.write_config(loaded.config)
        if damaged is not None and not restart:
            state = folder.read_checkpoint().state
            epochs = loaded.config.train.epochs
            if state.epoch >= epochs or state.stopped_early:
                raise RunError(
                    f"{damaged}; its checkpoint says the run finished (epoch {state.epoch} "
                    f"of {epochs}): nothing to resume"
                )
        splits = load_splits(loaded, data_dir)
        if threads is None and folder.has_manifest():
            with contextlib.suppress(DlzeroError):
                threads = folder.read_manifest().environment.threads_requested
        if restart:
            # Nothing of the earlier attempt may pass for this one's (a restart that
            # diverges at once must not leave the old weights.npz for `latest` and eval).
            folder.remove_results()
            origin = None
        elif previous is not None:
            origin = previous
        else:
            origin = _rebuilt_summary(folder, loaded)
        with blas_threads(threads):
            environment = current_environment(threads)
            return _train(folder, loaded, splits, callbacks or RunCallbacks(), origin, environment)


def _unfinished_epochs(folder: RunFolder) -> tuple[int, int] | None:
    """(epoch, of epochs) when the run's checkpoint says it has epochs left to train;
    None when it finished (or stopped early), or there is no readable checkpoint."""
    if not folder.has_checkpoint():
        return None
    try:
        state = folder.read_checkpoint().state
        epochs = folder.read_config().config.train.epochs
    except DlzeroError:
        return None
    if state.epoch >= epochs or state.stopped_early:
        return None
    return state.epoch, epochs


def _rebuilt_summary(folder: RunFolder, loaded: LoadedConfig) -> Summary:
    """What a damaged summary.json said, as far as the run needs it to go on: its start
    time from the folder's name (the time it was created, to the second)."""
    stamp = folder.name[:16]
    try:
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        started = utc_now()
    return Summary(name=loaded.config.name, status="interrupted", started_at=started.isoformat())


def _train(
    folder: RunFolder,
    loaded: LoadedConfig,
    splits: dict[str, Arrays],
    callbacks: RunCallbacks,
    previous: Summary | None,
    environment: Environment,
    started: datetime | None = None,
) -> TrainResult:
    """Train `folder`'s run to the end: afresh, or on from its checkpoint when `previous`
    (its summary so far) is given. Whenever it stops with weights, manifest.json records
    its files, `splits`' digests and `environment`. A staged `folder` is published (given
    its real name) once summary.json and the epoch-0 checkpoint are written."""
    config = loaded.config
    dataset = DATASETS.get(config.data.dataset)
    rng = np.random.default_rng(config.seed)
    model = Model.from_config(config, dataset, rng)
    _refuse_non_finite_start(loaded, model)
    model.normalizer.fit(splits["train"].x)
    optimizer = make_optimizer(model, config.train)
    state = TrainState()
    measured = None  # the diagnostics rows the checkpoint has (None: an older one)
    if previous is not None:
        restored = restore_checkpoint(folder, model, optimizer, rng)
        state, measured = restored.state, restored.diagnostics
    now = utc_now().isoformat()
    summary = Summary(
        name=config.name,
        status="running",
        seed=config.seed,
        dataset=dataset.name,
        layers=layers_text(config.model),
        samples={split: len(arrays) for split, arrays in splits.items()},
        parameters=model.network.parameter_count(),
        started_at=previous.started_at if previous else (started or utc_now()).isoformat(),
        versions=versions(),
        resumed_at=(*previous.resumed_at, now) if previous else (),
        resumed_from_epoch=state.epoch if previous else None,
    )
    probe = _probe(
        folder, loaded, model, splits["train"], state.epoch, previous is not None, measured
    )
    # The best weights travel in the checkpoint; weights.npz is written once, at the
    # end (or when stopped), not re-synced to disk at every improvement.
    checkpoint = Checkpointer(folder, model, rng, probe.rows if probe else None)
    digests = split_digests(splits)  # before anything is written: a Ctrl-C here costs nothing
    started = time.perf_counter()
    metric, mode = config.train.monitor(bool(len(splits["val"])))

    def attempt(problems: list[DlzeroError], write, what: str) -> bool:
        """Run one write of the way out; a failure is noted, never raised over the
        reason the run stopped."""
        try:
            write()
            return True
        except DlzeroError as exc:
            problems.append(exc)
        except OSError as exc:
            problems.append(WriteError(what, exc))
        return False

    def draw(problems: list[DlzeroError], plot, path: Path) -> None:
        """Draw one figure of the way out; any failure of the drawing (matplotlib's own
        errors included) is one recorded problem, never a crash that leaves `running`."""
        try:
            plot()
        except DlzeroError as exc:
            problems.append(exc)
        except OSError as exc:
            problems.append(WriteError(path, exc))
        except Exception as exc:
            problems.append(RunError(f"{path}: cannot draw: {type(exc).__name__}: {exc}"))

    def finish(
        status: str,
        problems: list[DlzeroError],
        error: str | None = None,
        test: Score | None = None,
    ) -> Summary:
        """The final summary (and checkpoint, metrics, curves, manifest), each written if
        it can be; what could not be written is in `problems` and in the summary. A run
        that completed but could not write all its files ends `failed` (resumable: its
        checkpoint has every epoch, and resuming writes the rest)."""
        attempt(problems, checkpoint.flush, str(folder.checkpoint_path))
        draw(
            problems,
            lambda: folder.write_curves(state.history, f"{config.name} ({status})"),
            folder.curves_path,
        )
        wall = time.perf_counter() - started
        trained = (len(state.history) - (summary.resumed_from_epoch or 0)) * len(splits["train"])
        outcome = Outcome(
            wall_seconds=round(wall, 3),
            epochs_completed=state.epoch,
            best_epoch=state.best_epoch,
            best_metric=metric,
            best_mode=mode,
            stopped_early=state.stopped_early,
            samples_per_second=round(trained / wall, 1) if wall > 0 else None,
            final=state.history[-1] if state.history else None,
            best_val_acc=max(
                (r.val_acc for r in state.history if r.val_acc is not None), default=None
            ),
        )
        if folder.weights_path.is_file():
            attempt(
                problems,
                lambda: folder.write_manifest(
                    make_manifest(folder, environment, dataset.name, digests)
                ),
                str(folder.manifest_path),
            )
        if status == "completed" and problems:
            status = "failed"
        noted = "; ".join(filter(None, [error, *(f"not written: {p}" for p in problems)]))
        final = replace(
            summary, status=status, finished_at=utc_now().isoformat(), outcome=outcome,
            error=noted or None, test=test,
        )  # fmt: skip
        attempt(problems, lambda: folder.write_summary(final), str(folder.summary_path))
        return final

    def save_weights(problems: list[DlzeroError]) -> None:
        """last.npz as the model stands; weights.npz the best epoch (the current
        weights when no epoch has completed); activations.png of the model as it stands.
        Weights that are not finite are not written (the checkpoint has the last good)."""
        if model.live_weights().non_finite():
            problems.append(
                RunError(
                    f"{folder.last_path} and {folder.weights_path}: the weights as they "
                    "stand are not finite"
                )
            )
            return
        attempt(problems, lambda: folder.write_last(model), str(folder.last_path))
        attempt(problems, lambda: folder.write_weights(model, state.best), str(folder.weights_path))
        if probe is not None:
            title = f"{config.name}: hidden activations after epoch {state.epoch}"
            draw(
                problems,
                lambda: folder.write_activations(hidden_activations(model.network, probe.x), title),
                folder.activations_path,
            )

    val = splits["val"] if len(splits["val"]) else None
    problems: list[DlzeroError] = []
    try:
        # From the first write on, every way out goes through `finish`, so that no
        # failure or Ctrl-C can leave the status at `running` (a staged folder that was
        # never published is only discarded: it never was a run).
        folder.write_summary(summary)
        # The state training starts from, written out: for a new run the checkpoint of
        # epoch 0 (from here on the folder can be resumed, and a missing checkpoint
        # means a deleted one); for a resumed one, metrics.csv as its checkpoint has it
        # (the checkpoint is the truth: a metrics.csv that a full disk kept from being
        # written is written now).
        checkpoint(state, optimizer, model.snapshot())
        checkpoint.flush()
        if folder.is_partial:
            # A signal between the rename and the assignment would leave `folder`
            # naming a path that is gone: it waits until both are done.
            with signals_deferred() as caught:
                folder = checkpoint.folder = folder.publish()
            if caught:
                raise KeyboardInterrupt
        callbacks.run_started(folder, model, splits)
        fit(
            model, splits["train"], val, config.train, rng,
            callbacks=callbacks, optimizer=optimizer, state=state, checkpoint=checkpoint,
            probe=probe,
        )  # fmt: skip
    except TrainingDiverged as exc:
        with signals_deferred() as caught:
            if state.epoch > 0:  # fit left the last completed epoch's weights in the model
                save_weights(problems)
                where = (
                    f"the last completed epoch's weights (epoch {state.epoch}) are in "
                    f"{folder.last_path} (the best epoch's, {state.best_epoch}, in "
                    f"{folder.weights_path})"
                )
            else:  # the initial weights were finite, but are no epoch's
                where = "no epoch completed, so no weight file was written"
            final = finish("diverged", problems, error=exc.detail)
        if caught:  # Ctrl-C while it was recorded: exit 130, the status stays `diverged`
            raise RunInterrupted(folder, final.status, tuple(map(str, problems))) from exc
        raise exc.with_hint(
            f"lower train.optimizer.lr (now {config.train.optimizer.options()['lr']}) or "
            f"check the input scale (data.normalize); {where}"
        ) from None
    except KeyboardInterrupt:
        if folder.is_partial:
            raise  # still being set up: the caller discards it, nothing was written
        # Resuming uses the checkpoint (written by finish); the weight files are for
        # looking at the run as it stands, mid-epoch. A second Ctrl-C waits (and is
        # then the same interrupt).
        with signals_deferred():
            save_weights(problems)
            final = finish("interrupted", problems)
        raise RunInterrupted(folder, final.status, tuple(map(str, problems))) from None
    except BaseException as exc:
        if folder.is_partial:
            raise  # still being set up: the caller discards it, nothing was written
        with signals_deferred() as caught:
            final = finish("failed", problems, error=f"{type(exc).__name__}: {exc}")
        if caught:  # Ctrl-C while it was recorded: exit 130, the status stays `failed`
            raise RunInterrupted(folder, final.status, tuple(map(str, problems))) from exc
        raise

    # Past the last epoch: the finishing phase (weight files, figures, the test score,
    # the final files) runs with signals deferred as one whole. A Ctrl-C that landed
    # in the middle of it (say while matplotlib is first imported) would break what is
    # left to draw and could leave the status at `running`.
    failure: BaseException | None = None
    with signals_deferred() as caught:
        try:
            save_weights(problems)
            if state.best is not None:
                model.restore(state.best)  # the test score is the best epoch's
            test = evaluate(model, splits["test"], batch_size=config.train.batch_size)
        except KeyboardInterrupt as exc:  # raised outright, not by a signal
            failure = exc
            final = finish("interrupted", problems)
        except Exception as exc:
            failure = exc
            final = finish("failed", problems, error=f"{type(exc).__name__}: {exc}")
        else:
            final = finish("completed", problems, test=Score(test.loss, test.accuracy))
    if caught or isinstance(failure, KeyboardInterrupt):
        # a signal while the files were written: exit 130, the status as written
        raise RunInterrupted(folder, final.status, tuple(map(str, problems))) from failure
    if failure is not None:
        raise failure
    if problems:  # the first file that could not be written: one line, exit 1
        raise problems[0]
    slowdown = None
    if config.train.gradient == "numerical":
        slowdown = numerical_slowdown(loaded, splits["train"], state.history)
    return TrainResult(folder, state.history, test, final, slowdown)


def _refuse_non_finite_start(loaded: LoadedConfig, model: Model) -> None:
    """ConfigError, naming the setting, when the network's initial weights are not
    finite: model.init_std (the only scale a config gives an initialiser, for `std`
    layers whether chosen by model.init or model.init_by_layer) beyond the dtype's
    range. Checked before anything is written."""
    bad = model.live_weights().non_finite()
    if bad:
        names = book_names(model.network)
        raise loaded.source.error(
            ("model", "init_std"),
            f"{loaded.config.model.init_std:g} is too large: the initial weights are not "
            f"finite ({', '.join(names.get(name, name) for name in bad[:3])})",
        )


def _probe(
    folder: RunFolder,
    loaded: LoadedConfig,
    model: Model,
    train: Arrays,
    epoch: int,
    resumed: bool,
    measured: tuple[DiagnosticRow, ...] | None,
) -> Probe | None:
    """The run's diagnostics probe (None when train.diagnostics is off); a resumed run
    keeps the rows of the epochs its checkpoint has: `measured`, the checkpoint's own
    (diagnostics.csv may have missed some: a full disk), or for a checkpoint of an
    older dlzero, diagnostics.csv's."""
    config = loaded.config
    if not config.train.diagnostics or not len(train):
        return None
    rows: list[DiagnosticRow] = []
    if measured is not None:
        rows = [row for row in measured if row.epoch <= epoch]
    elif resumed and folder.has_diagnostics():
        rows = [row for row in folder.read_diagnostics() if row.epoch <= epoch]
    x = model.prepare(train.x[diagnostic_indices(len(train), config.seed)])
    return Probe(model.network, x, config.train.epochs, rows)
