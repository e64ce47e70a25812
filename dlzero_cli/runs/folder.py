"""The run folder: one object that creates, finds, lists, reads and writes a run.

    runs/<UTC timestamp>-<name>/          run folder format 3 (summary.json "format")
        config.yaml     the fully resolved config (defaults and overrides applied)
        metrics.csv     one row per completed epoch: epoch, train_loss, train_acc,
                        val_loss, val_acc, lr, seconds (empty: no validation split)
        weights.npz     the best epoch's weights + architecture (see `formats`)
        last.npz        the last epoch's, in the same format
        checkpoint.npz  weights, best weights, optimizer and generator state, epoch
                        and metrics: what `dlzero train --resume` continues from
        summary.json    format, name, status, seed, dataset, layers, sample counts,
                        timings, versions, best epoch, best val_acc, final and test
                        metrics (see `documents`)
        manifest.json   SHA-256 of config.yaml, metrics.csv and the .npz files, of the
                        dataset's arrays per split, and the Python/NumPy/dlzero versions,
                        BLAS libraries and threads the run used (see `documents` and
                        `manifest`); written when training stops with weights, and by
                        `import book`
        curves.png      loss and accuracy per epoch, train against validation
        diagnostics.csv per measured epoch and layer, on a fixed batch of training
                        samples: activation mean/std, saturated or dead fractions,
                        weight and gradient norms, update ratios; long format
                        epoch,layer,kind,name,metric,value (see `dlzero_cli.diagnostics`);
                        kept with the checkpoint, continued by a resumed run; absent
                        with train.diagnostics: false and in older runs
        activations.png histograms of each hidden activation layer's outputs on that
                        batch after training (the book's figures 6-10 to 6-14)
        eval-<dataset>-<split>.json          `dlzero eval`'s report
        confusion-<dataset>-<split>.png      its confusion matrix
        misclassified-<dataset>-<split>.png  its most confident mistakes
        (each with -limit<N> after <split>)  `dlzero eval --limit N`'s, kept apart

    runs/compare-<run>-vs-<run>...png     `dlzero compare`'s curves (in the runs folder
                                          or the folder given with --out)

    runs/.<TIME-NAME>.<PID>-<random>.partial/
                        a run being set up: config.yaml, summary.json and the first
                        checkpoint are written here, then the folder is renamed to its
                        real name, so a run folder only ever appears resumable. Hidden
                        (listing and `latest` ignore it); locked while set up, so one
                        whose lock is free is stale and removed by the next one set up
                        in the same folder (see `staging`)
    <run>/.lock         held (flock) by the process training the run; the kernel
                        releases it when that process ends, however it ends

Format 1 is the same files without "format" in summary.json, and with weight files
whose architecture is format 1 (layer kinds "affine", "batchnorm2d", key "pad": see
`formats.upgrade_architecture`); format 3 reads an older run's optimizer `nesterov` as
`nesterov_book` (see `documents`, `formats.config_upgrades`); all are read. dlzero
before format 2 cannot read a format-2 weight file. Only this module opens these files
by name. Every file is written to a temporary name in the same folder and renamed into
place, so a crash never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from dlzero_cli import plots
from dlzero_cli.atomic import write_arrays, write_json, write_text
from dlzero_cli.config import Config, LoadedConfig, dump_config, load_config, parse_yaml
from dlzero_cli.config.rules import refuse_if_too_large
from dlzero_cli.data.catalog import DATASETS
from dlzero_cli.diagnostics import DiagnosticRow
from dlzero_cli.errors import (
    ConfigError,
    RunError,
    WriteError,
)
from dlzero_cli.evaluation import Evaluation
from dlzero_cli.model import Model, WeightSnapshot
from dlzero_cli.pretrained import book_names
from dlzero_cli.runs import formats, staging
from dlzero_cli.runs.documents import (
    OLDEST_RUN_FORMAT,
    RUN_FORMAT,
    EvalFiles,
    EvalReport,
    Manifest,
    Summary,
    eval_report_from_json,
    manifest_from_json,
    refuse_newer_format,
    summary_from_json,
)
from dlzero_cli.runs.finding import (
    RUNS_DIR_ENV,
    TRIALS_FOLDER,
    RunFinding,
    RunListing,
    default_runs_dir,
)
from dlzero_cli.runs.staging import LOCK_FILE, utc_now
from dlzero_cli.training import EpochRecord

__all__ = [
    "LOCK_FILE", "RUNS_DIR_ENV", "TRIALS_FOLDER", "RunFolder", "RunListing",
    "default_runs_dir", "utc_now",
]  # fmt: skip

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "weights.npz"
LAST_FILE = "last.npz"
CHECKPOINT_FILE = "checkpoint.npz"
SUMMARY_FILE = "summary.json"
CURVES_FILE = "curves.png"
DIAGNOSTICS_FILE = "diagnostics.csv"
ACTIVATIONS_FILE = "activations.png"
MANIFEST_FILE = "manifest.json"
COMPARE_PREFIX = "compare-"
# The spare bytes a `running` summary.json is written with (rounded up to 4 KB blocks),
# so that on a full disk the final summary can replace it in place.
SUMMARY_ROOM = 2048
# The files manifest.json hashes, when present: everything a result is made of.
HASHED_FILES = (CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, LAST_FILE, CHECKPOINT_FILE)

# --------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class RunFolder(RunFinding):
    path: Path
    # `latest` resolved to an older run than the newest: which one was skipped and why
    # (the CLI prints it on stderr).
    note: str | None = field(default=None, compare=False)

    # ------------------------------------------------------------ creating, finding

    @classmethod
    def create(cls, runs_dir: Path, name: str, now: datetime | None = None) -> RunFolder:
        """A new, empty run folder `<UTC timestamp>-<name>`; never reuses an existing one.

        Two runs started in the same second get `-2`, `-3`, ... suffixes: mkdir without
        exist_ok is atomic, so even concurrent processes cannot both claim a name.
        """
        base = staging.folder_base(name, now)
        staging.make_runs_dir(runs_dir)
        for attempt in range(1, 10_000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            path = runs_dir / f"{base}{suffix}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunError(f"{path}: cannot create the run folder: {exc.strerror}") from None
            return cls(path)
        raise RunError(f"{runs_dir}: too many runs named {name!r} in one second")

    @classmethod
    @contextlib.contextmanager
    def staged(cls, runs_dir: Path, name: str, now: datetime | None = None) -> Iterator[RunFolder]:
        """A hidden partial folder `.<TIME-NAME>.<PID>-<random>.partial` in `runs_dir` to
        set a run up in, its lock held while the block runs (and so while the run trains);
        `publish` gives it its real name, and it is removed after the block if it was not
        published. Partial folders of processes that are gone are removed first (see
        `staging`)."""
        with staging.partial_folder(runs_dir, staging.folder_base(name, now)) as path:
            yield cls(path)

    @property
    def is_partial(self) -> bool:
        return staging.is_partial(self.path)

    def publish(self) -> RunFolder:
        """The staged folder under its real name `<TIME-NAME>` (`-2`, `-3`, ... when taken)."""
        target = staging.publish(self.path)
        assert target is not None  # only `exact` gives up on a taken name
        return RunFolder(target)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the run's training lock (an flock on `.lock`, which names the holder)
        while the block runs; RunLocked (one line, with the holder's PID) when another
        process holds it. The kernel releases the lock of a process that dies, so a
        lock left behind by a killed run is simply taken over."""
        return staging.held_lock(self.path)

    def trainer_gone(self) -> bool:
        """Whether the process that holds (or held) this run's training lock is gone
        (read from the lock file's holder; a holder on another host counts as alive)."""
        return staging.holder_gone(self.path)

    # ------------------------------------------------------------ paths

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def last_path(self) -> Path:
        return self.path / LAST_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def curves_path(self) -> Path:
        return self.path / CURVES_FILE

    @property
    def diagnostics_path(self) -> Path:
        return self.path / DIAGNOSTICS_FILE

    @property
    def activations_path(self) -> Path:
        return self.path / ACTIVATIONS_FILE

    def eval_files(self, dataset: str, split: str, limit: int | None = None) -> EvalFiles:
        """Where `dlzero eval` writes; an evaluation of `--limit N` samples has its own
        files (eval-mnist-test-limit3.json), so it never replaces the full one's."""
        stem = f"{dataset}-{split}" + (f"-limit{limit}" if limit is not None else "")
        return EvalFiles(
            report=self.path / f"eval-{stem}.json",
            confusion=self.path / f"confusion-{stem}.png",
            misclassified=self.path / f"misclassified-{stem}.png",
        )

    def remove_results(self) -> None:
        """Remove what an earlier attempt at this run produced (weight files, checkpoint,
        manifest, figures, eval reports, diagnostics), before `--restart` trains it again:
        none of it describes the run that follows. config.yaml, summary.json and the lock
        stay. The manifest goes first (it must never vouch for files that are going),
        then the weights (so `latest` stops offering the run), one unlink each: a crash
        half-way leaves fewer old files, never a changed one. Only regular files and
        links of these names are removed, never a folder."""
        names = [MANIFEST_FILE, WEIGHTS_FILE, LAST_FILE, CHECKPOINT_FILE]
        names += [CURVES_FILE, ACTIVATIONS_FILE, DIAGNOSTICS_FILE]
        for pattern in ("eval-*.json", "confusion-*.png", "misclassified-*.png"):
            names += sorted(p.name for p in self.path.glob(pattern))
        for name in names:
            path = self.path / name
            try:
                if path.is_symlink() or path.is_file():
                    path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise RunError(
                    f"{path}: cannot remove the earlier attempt's file: {exc.strerror}"
                ) from None

    # ------------------------------------------------------------ config.yaml

    def write_config(self, config: Config) -> None:
        write_text(self.config_path, dump_config(config))

    def read_config(self, check_memory: bool = True) -> LoadedConfig:
        """config.yaml, validated, with the meaning it had when the run was written
        (`formats.config_upgrades`: an older run's `nesterov` is `nesterov_book`)."""
        try:
            loaded = load_config(str(self.config_path), self.config_upgrades(), check_memory=False)
        except ConfigError as exc:  # a run's own file, damaged: a failure, not the user's typing
            raise RunError(str(exc)) from None
        if check_memory:  # too large for this machine now: the config error it always was
            refuse_if_too_large(
                loaded.config, DATASETS.get(loaded.config.data.dataset), loaded.source
            )
        return loaded

    def config_upgrades(self) -> list[str]:
        """What `read_config` changes in config.yaml (none for a run of today's format):
        `train --resume` writes the result back before the run's format becomes today's."""
        try:
            data = self.read_config_data()
        except RunError:
            return []  # load_config says what is wrong with it
        return formats.config_upgrades(self.run_format(), data)

    def run_format(self) -> int:
        """The run folder format the run was written in: summary.json's, or, when that
        is damaged, the checkpoint's record of it; today's when neither says."""
        try:
            data = json.loads(self.summary_path.read_text(encoding="utf-8"))
            version = data.get("format", OLDEST_RUN_FORMAT)
            if isinstance(version, int) and not isinstance(version, bool):
                return version
        except (OSError, ValueError, AttributeError):
            pass
        try:
            return formats.checkpoint_run_format(formats.read_arrays(self.checkpoint_path))
        except (RunError, KeyError, ValueError, TypeError):
            return RUN_FORMAT

    def read_config_text(self) -> str:
        """config.yaml as written: the resolved config."""
        try:
            return self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RunError(f"{self.config_path}: missing") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RunError(f"{self.config_path}: unreadable ({exc})") from None

    def read_config_data(self) -> dict[str, Any]:
        """config.yaml as plain data, not validated again: a run trained by an older
        dlzero shows its config even where today's rules would refuse it."""
        try:
            data, _ = parse_yaml(self.read_config_text(), str(self.config_path))
        except ConfigError as exc:
            raise RunError(f"{self.config_path}: unreadable ({exc})") from None
        if not isinstance(data, dict):
            raise RunError(f"{self.config_path}: unreadable (not a mapping of keys)")
        return data

    # ------------------------------------------------------------ metrics.csv

    def write_metrics(self, records: list[EpochRecord]) -> None:
        write_text(self.metrics_path, formats.metrics_text(records))

    def read_metrics(self) -> list[EpochRecord]:
        try:
            return formats.parse_metrics(self.metrics_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{self.metrics_path}: missing") from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.metrics_path}: unreadable ({exc})") from None

    # ------------------------------------------------------------ diagnostics.csv

    def write_diagnostics(self, rows: list[DiagnosticRow]) -> None:
        write_text(self.diagnostics_path, formats.diagnostics_text(rows))

    def has_diagnostics(self) -> bool:
        return self.diagnostics_path.is_file()

    def read_diagnostics(self) -> list[DiagnosticRow]:
        try:
            return formats.parse_diagnostics(self.diagnostics_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(
                f"{self.diagnostics_path}: missing; this run recorded no diagnostics "
                "(trained by an older dlzero, or with train.diagnostics: false); train its "
                f"{CONFIG_FILE} again to get them"
            ) from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.diagnostics_path}: unreadable ({exc})") from None

    # ------------------------------------------------------------ weights.npz, last.npz

    def write_weights(self, model: Model, weights: WeightSnapshot | None = None) -> None:
        """weights.npz: `model` with `weights` (the best epoch's), or with its own.
        RunError, and nothing written, when a weight is not finite."""
        write_arrays(
            self.weights_path,
            _finite(self.weights_path, formats.weight_arrays(model, weights), model),
        )

    def write_last(self, model: Model) -> None:
        """last.npz: `model` as it stands (RunError when a weight is not finite)."""
        write_arrays(self.last_path, _finite(self.last_path, formats.weight_arrays(model), model))

    def read_weight_arrays(self, last: bool = False) -> dict[str, np.ndarray]:
        """Every array of weights.npz (or of last.npz), by its name in the file."""
        return formats.read_arrays(self.last_path if last else self.weights_path)

    def read_model(self, last: bool = False) -> Model:
        """The model of weights.npz (or of last.npz); the weight file alone suffices."""
        path = self.last_path if last else self.weights_path
        arrays = formats.read_arrays(path)
        try:
            return formats.model_from_arrays(arrays)
        except (KeyError, ValueError, TypeError) as exc:
            raise RunError(f"{path}: not a consistent dlzero weight file ({exc})") from None

    # ------------------------------------------------------------ checkpoint.npz

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def write_checkpoint(self, model: Model, checkpoint: formats.Checkpoint) -> None:
        # Atomic, but without the fsync that final files get: a checkpoint lost with
        # the machine's power costs the epochs since the previous one.
        arrays = _finite(self.checkpoint_path, formats.checkpoint_arrays(model, checkpoint), model)
        write_arrays(self.checkpoint_path, arrays, durable=False)

    def read_checkpoint(self) -> formats.Checkpoint:
        arrays = formats.read_arrays(self.checkpoint_path)
        try:
            return formats.checkpoint_from_arrays(arrays)
        except (KeyError, ValueError, TypeError) as exc:
            raise self.inconsistent_checkpoint(exc) from None

    def inconsistent_checkpoint(self, exc: Exception) -> RunError:
        """The error for a checkpoint that does not fit its model or optimizer."""
        return RunError(f"{self.checkpoint_path}: not a consistent checkpoint ({exc})")

    # ------------------------------------------------------------ summary.json

    def write_summary(self, summary: Summary) -> None:
        """summary.json, atomically. On a full disk it is rewritten in place instead, so
        that the status can still say what happened, but only within the bytes the file
        already has: never grown (growing needs new blocks, which a full disk may give
        half of, leaving a torn file where a good one was); a shorter text is padded with
        spaces. A `running` summary is written with room to spare (trailing whitespace,
        which JSON ignores) so that the final one fits. A summary that does not fit is
        not written (WriteError); the checkpoint, not this file, is what resuming trusts."""
        text = json.dumps(summary.to_json(), indent=2, sort_keys=False) + "\n"
        if summary.status == "running":
            text += " " * (-(len(text.encode("utf-8")) + SUMMARY_ROOM) % 4096 + SUMMARY_ROOM)
        try:
            write_text(self.summary_path, text)
        except WriteError as exc:
            if exc.errno != errno.ENOSPC or not self.summary_path.is_file():
                raise
            data = text.rstrip(" ").encode("utf-8")
            try:
                with open(self.summary_path, "r+b") as f:
                    size = os.fstat(f.fileno()).st_size
                    if len(data) > size:
                        raise exc from None  # it would grow: keep the old one whole
                    f.write(data + b" " * (size - len(data)))
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:
                raise exc from None

    def refuse_newer_format(self) -> None:
        """RunError (one line) when summary.json says a newer dlzero wrote this folder.

        Nothing else about the summary is checked here: eval and predict need only the
        weight file, and a damaged summary.json must not keep them from it (resuming
        reads the summary in full and reports it).
        """
        try:
            data = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        refuse_newer_format(data, self.summary_path)

    def read_summary(self) -> Summary:
        """The summary; RunError (one line) when missing, corrupt or of a newer format."""
        try:
            data = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{self.summary_path}: missing; not a dlzero run folder") from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.summary_path}: unreadable ({exc})") from None
        return summary_from_json(data, self.summary_path)

    # ------------------------------------------------------------ figures

    def write_curves(self, history: list[EpochRecord], title: str) -> None:
        """curves.png: loss and accuracy per epoch, train against validation."""
        plots.plot_curves([record.as_dict() for record in history], self.curves_path, title)

    def write_activations(self, activations: list[tuple[str, np.ndarray]], title: str) -> None:
        """activations.png: a histogram per hidden activation layer, (label, values)."""
        plots.plot_activations(activations, self.activations_path, title)

    def write_eval_confusion(
        self, files: EvalFiles, title: str, result: Evaluation, class_names: tuple[str, ...]
    ) -> None:
        """The confusion matrix of an evaluation, titled "<where>: confusion matrix"."""
        plots.plot_confusion(
            result.confusion, class_names, files.confusion, f"{title}: confusion matrix"
        )

    def write_eval_mistakes(
        self,
        files: EvalFiles,
        title: str,
        result: Evaluation,
        inputs: np.ndarray,
        class_names: tuple[str, ...],
    ) -> None:
        """The most confident mistakes of an evaluation of `inputs` (raw, as evaluated)."""
        wrong = result.misclassified
        plots.plot_misclassified(
            inputs[wrong.indices], wrong.true.tolist(), wrong.predicted.tolist(),
            wrong.confidence.tolist(), class_names, files.misclassified,
            f"{title}: most confident mistakes",
        )  # fmt: skip

    # ------------------------------------------------------------ manifest.json

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_FILE

    def file_digests(self) -> dict[str, str]:
        """SHA-256 of each of the files a manifest covers that exists now."""
        return {
            name: digest for name in HASHED_FILES if (digest := self.file_digest(name)) is not None
        }

    def file_digest(self, name: str) -> str | None:
        """The SHA-256 of the run file `name` (e.g. "weights.npz"); None when missing."""
        digest = hashlib.sha256()
        try:
            with open(self.path / name, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RunError(f"{self.path / name}: unreadable ({exc.strerror})") from None
        return digest.hexdigest()

    def write_manifest(self, manifest: Manifest) -> None:
        write_json(self.manifest_path, manifest.to_json())

    def has_manifest(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> Manifest:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(
                f"{self.path}: no {MANIFEST_FILE} (trained before runs recorded one); "
                f"nothing to verify: train its {CONFIG_FILE} again for a run that has one"
            ) from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.manifest_path}: unreadable ({exc})") from None
        return manifest_from_json(data, self.manifest_path)

    # ------------------------------------------------------------ eval reports

    def write_eval_report(self, report: EvalReport) -> None:
        write_json(report.files.report, report.to_json())

    def read_eval_report(self, dataset: str, split: str, limit: int | None = None) -> EvalReport:
        path = self.eval_files(dataset, split, limit).report
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{path}: missing; run `dlzero eval {self.path}`") from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{path}: unreadable ({exc})") from None
        return eval_report_from_json(data, path)

    # ------------------------------------------------------------ a run as bytes
    # A sweep trial trains on a worker without a shared disk: the worker sends the
    # run's files back by name, and the sweep writes them into its folder.

    def files(self) -> dict[str, bytes]:
        """Every file of the run, by name (hidden temporary files left out)."""
        return {
            p.name: p.read_bytes()
            for p in sorted(self.path.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }

    @classmethod
    def materialize(cls, path: Path, files: dict[str, bytes]) -> RunFolder | None:
        """The run folder `path` holding `files`, written atomically: into a partial
        folder beside it (see `staging`), each file synced, then renamed into place.
        None, and nothing written, when `path` exists already (a run lands once)."""
        for name in files:
            if Path(name).name != name or name.startswith(".") or not name:
                raise RunError(f"{path}: refusing a run file named {name!r}")
        if path.exists():
            return None
        with staging.partial_folder(path.parent, path.name) as partial:
            try:
                for name, data in files.items():
                    with open(partial / name, "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
            except OSError as exc:
                raise RunError(f"{path}: cannot write the run folder: {exc.strerror}") from None
            landed = staging.publish(partial, exact=True)
        return cls(landed) if landed is not None else None


def _finite(path: Path, arrays: dict[str, np.ndarray], model: Model) -> dict[str, np.ndarray]:
    """`arrays`, when every floating array among them is finite; RunError otherwise: a
    weight file never holds a NaN or an infinity. The arrays are named as the user
    knows them (W1, b2; "of the best epoch"), not by their keys in the file."""
    bad = [
        name
        for name, array in arrays.items()
        if np.issubdtype(array.dtype, np.inexact) and name != "history"
        and not np.isfinite(array).all()
    ]  # fmt: skip
    if bad:
        shown = ", ".join(_shown_name(name, model) for name in bad[:3])
        raise RunError(f"{path}: not written: {shown} not finite")
    return arrays


def _shown_name(key: str, model: Model) -> str:
    """A weight file's array key as the user knows the array: "best/param/0.W" -> "W1
    of the best epoch", "optim/v/0.W" -> "the optimizer's v/0.W"."""
    names = book_names(model.network)
    best = key.startswith(formats.BEST_PREFIX)
    key = key.removeprefix(formats.BEST_PREFIX)
    if key.startswith(formats.OPTIMIZER_PREFIX):
        return f"the optimizer's {key.removeprefix(formats.OPTIMIZER_PREFIX)}"
    for prefix in (formats.PARAM_PREFIX, formats.BUFFER_PREFIX, formats.NORMALIZE_PREFIX):
        key = key.removeprefix(prefix)
    shown = names.get(key, key)
    return f"{shown} of the best epoch" if best else shown


def comparison_path(folder: Path, names: list[str]) -> Path:
    """Where `dlzero compare` draws `names`'s curves: compare-<a>-vs-<b>....png in
    `folder`; a long list of names is shortened, and kept apart by a hash of them all."""
    stem = "-vs-".join(names)
    if len(stem) > 150:
        digest = hashlib.sha256("\0".join(names).encode()).hexdigest()[:8]
        stem = f"{names[0]}-vs-{len(names) - 1}-more-{digest}"
    return folder / f"{COMPARE_PREFIX}{stem}.png"
