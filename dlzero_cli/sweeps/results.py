"""The sweep folder: the one place that reads and writes a sweep's files.

    runs/<UTC timestamp>-<name>/       sweep folder format 1 (sweep.json "format")
        sweep.yaml    the sweep file, copied as given
        base.yaml     its base config, copied as given (a resumed sweep reads both)
        sweep.csv     one row per finished trial: trial, each searched value, seed,
                      threads, status, run, epochs, the metrics, train_seconds
        sweep.json    the settings, the status, the counts and the best trial
        sweep.png     the best trials' validation curves; each value against the metric
        trials/
            trial-0000/   a normal run folder per finished trial (dlzero eval, predict)

A trial folder appears whole or not at all (written beside, then renamed); a trial is
finished when its folder is there. sweep.csv and sweep.json are rewritten atomically
after every trial, so they are current even after a crash.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlzero_cli import plots
from dlzero_cli.atomic import write_json, write_text
from dlzero_cli.errors import RunError
from dlzero_cli.runs.folder import TRIALS_FOLDER, RunFolder
from dlzero_cli.sweeps.spec import METRICS, Trial, is_number, natural_mode

SWEEP_FORMAT = 1
SWEEP_FILE = "sweep.yaml"
BASE_FILE = "base.yaml"
CSV_FILE = "sweep.csv"
JSON_FILE = "sweep.json"
PLOT_FILE = "sweep.png"
TRIALS_DIR = TRIALS_FOLDER  # the runs package names it: `runs list` knows a sweep by it
FINISHED = ("completed", "diverged")
BEST_CURVES = 5  # trials whose validation curves sweep.png draws


@dataclass(frozen=True)
class TrialResult:
    """A finished trial, as a row of sweep.csv."""

    index: int
    values: dict[str, Any]
    seed: int
    threads: int
    status: str  # completed | diverged
    run: str  # its folder's name under trials/
    epochs: int
    metrics: dict[str, float | None]  # every name of spec.METRICS
    train_seconds: float | None


def trial_result(folder: RunFolder, trial: Trial, threads: int) -> TrialResult:
    """The row of a finished trial, read from its run folder.

    Per-epoch metrics are the best over the epochs (max for accuracies, min for
    losses); test metrics are the run's test score (its best epoch's weights).
    """
    summary = folder.read_summary()
    # A trial that diverged in its first epoch has no metrics.csv: no epoch completed.
    history = folder.read_metrics() if folder.metrics_path.is_file() else []
    metrics: dict[str, float | None] = {}
    for name in METRICS:
        split, kind = name.split("_")
        if split == "test":
            score = summary.test
            metrics[name] = None if score is None else getattr(score, kind)
            continue
        column = f"{split}_{'acc' if kind == 'accuracy' else 'loss'}"
        seen = [v for r in history if (v := getattr(r, column)) is not None]
        pick = max if natural_mode(name) == "max" else min
        metrics[name] = pick(seen) if seen else None
    outcome = summary.outcome
    return TrialResult(
        index=trial.index,
        values=dict(trial.values),
        seed=trial.seed,
        threads=threads,
        status=summary.status,
        run=folder.name,
        epochs=outcome.epochs_completed if outcome else 0,
        metrics=metrics,
        train_seconds=outcome.wall_seconds if outcome else None,
    )


def best_trial(results: Sequence[TrialResult], metric: str, mode: str) -> TrialResult | None:
    """The completed trial with the best `metric` (the lowest index among equals)."""
    scored = [r for r in results if r.status == "completed" and r.metrics[metric] is not None]
    if not scored:
        return None
    sign = -1.0 if mode == "max" else 1.0
    return min(scored, key=lambda r: (sign * r.metrics[metric], r.index))


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep was started: what sweep.json records and a resume reuses."""

    name: str
    source: str  # the sweep file as named on the command line
    base: str  # the base config's path when started
    metric: str
    mode: str
    seed: int
    kind: str  # grid | random | mixed
    draws: int | None  # random draws per grid point
    trials: int
    threads: int
    space: dict[str, str]  # dotted key -> how it varies
    started_at: str

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class SweepState:
    """Where a sweep stands: sweep.json's changing part."""

    status: str  # running | completed | interrupted | failed
    execution: str  # serial | LocalCluster of N workers | tcp://...
    results: tuple[TrialResult, ...] = ()
    finished_at: str | None = None
    wall_seconds: float | None = None
    error: str | None = None


# --------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class SweepFolder:
    path: Path

    @classmethod
    def create(cls, runs_dir: Path, name: str) -> SweepFolder:
        """A new `<UTC timestamp>-<name>` folder, named by the same rule as runs."""
        return cls(RunFolder.create(runs_dir, name).path)

    @classmethod
    def open(cls, path: Path) -> SweepFolder:
        """An existing sweep folder; RunError (one line) when it is not one."""
        folder = cls(path)
        if not path.is_dir():
            raise RunError(f"{path}: no such sweep folder")
        missing = [n for n in (SWEEP_FILE, BASE_FILE, JSON_FILE) if not (path / n).is_file()]
        if missing:
            raise RunError(f"{path}: not a sweep folder (no {', '.join(missing)})")
        folder.read_settings()
        return folder

    @property
    def sweep_path(self) -> Path:
        return self.path / SWEEP_FILE

    @property
    def base_path(self) -> Path:
        return self.path / BASE_FILE

    @property
    def csv_path(self) -> Path:
        return self.path / CSV_FILE

    @property
    def json_path(self) -> Path:
        return self.path / JSON_FILE

    @property
    def plot_path(self) -> Path:
        return self.path / PLOT_FILE

    @property
    def trials_path(self) -> Path:
        return self.path / TRIALS_DIR

    # ------------------------------------------------------------ the sources

    def write_sources(self, sweep_text: str, base_text: str) -> None:
        write_text(self.sweep_path, sweep_text)
        write_text(self.base_path, base_text)

    def read_sweep_text(self) -> str:
        try:
            return self.sweep_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RunError(f"{self.sweep_path}: unreadable ({exc})") from None

    # ------------------------------------------------------------ trials

    @staticmethod
    def trial_name(index: int) -> str:
        return f"trial-{index:04d}"

    def trial_folder(self, index: int) -> RunFolder:
        return RunFolder(self.trials_path / self.trial_name(index))

    def finished_trials(self, count: int) -> dict[int, RunFolder]:
        """The trials among 0..count-1 whose run folder is here and finished."""
        finished = {}
        for index in range(count):
            folder = self.trial_folder(index)
            if folder.summary_path.is_file() and folder.read_summary().status in FINISHED:
                finished[index] = folder
        return finished

    def add_trial(self, index: int, files: dict[str, bytes]) -> RunFolder | None:
        """Write a trial's run folder from its files; None when it is there already."""
        return RunFolder.materialize(self.trials_path / self.trial_name(index), files)

    # ------------------------------------------------------------ sweep.json, sweep.csv

    def write_results(self, settings: SweepSettings, state: SweepState) -> None:
        """sweep.csv and sweep.json as the sweep stands."""
        results = sorted(state.results, key=lambda r: r.index)
        write_text(self.csv_path, _csv_text(list(settings.space), results))
        best = best_trial(results, settings.metric, settings.mode)
        counts = {status: sum(r.status == status for r in results) for status in FINISHED}
        document = {
            "format": SWEEP_FORMAT,
            **settings.to_json(),
            "status": state.status,
            "execution": state.execution,
            "finished_at": state.finished_at,
            "wall_seconds": state.wall_seconds,
            "finished": len(results),
            **counts,
            "best": None if best is None else _best_json(best),
        }
        if state.error is not None:
            document["error"] = state.error
        write_json(self.json_path, document)

    def read_settings(self) -> SweepSettings:
        try:
            data = json.loads(self.json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.json_path}: unreadable ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != SWEEP_FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise RunError(
                f"{self.json_path}: sweep format {found!r}; this dlzero reads {SWEEP_FORMAT}"
            )
        try:
            return SweepSettings(**{k: data[k] for k in SweepSettings.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise RunError(f"{self.json_path}: unreadable (missing {exc})") from None

    # ------------------------------------------------------------ sweep.png

    def write_plot(
        self, settings: SweepSettings, results: Sequence[TrialResult], log_scale: dict[str, bool]
    ) -> None:
        """The best trials' validation curves and each searched value against the metric."""
        metric = settings.metric
        ranked = []
        rest = list(results)
        while len(ranked) < BEST_CURVES and (best := best_trial(rest, metric, settings.mode)):
            ranked.append(best)
            rest.remove(best)
        curves = []
        for rank, result in enumerate(ranked, start=1):
            history = RunFolder(self.trials_path / result.run).read_metrics()
            label = f"#{rank} trial {result.index} ({_short(result.metrics[metric])})"
            curves.append((label, [r.as_dict() for r in history]))
        scatter = {}
        for key in settings.space:
            points = [(r.values[key], r.metrics[metric]) for r in results]
            points = [(x, y) for x, y in points if y is not None]
            numeric = is_number([x for x, _ in points])
            scatter[key] = (points, numeric, log_scale.get(key, False) and numeric)
        best_values = None
        if ranked:
            best_values = {k: (ranked[0].values[k], ranked[0].metrics[metric])
                           for k in settings.space}  # fmt: skip
        title = f"{settings.name}: {len(results)} trials; best by {metric} ({settings.mode})"
        plots.plot_sweep(curves, scatter, metric, best_values, self.plot_path, title)


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


CSV_HEAD = ("trial",)
CSV_TAIL = ("seed", "threads", "status", "run", "epochs", *METRICS, "train_seconds")


def _csv_text(keys: list[str], results: Sequence[TrialResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_HEAD, *keys, *CSV_TAIL])
    for r in results:
        row = [r.index, *(r.values[k] for k in keys), r.seed, r.threads, r.status, r.run,
               r.epochs, *(r.metrics[m] for m in METRICS), r.train_seconds]  # fmt: skip
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _best_json(best: TrialResult) -> dict[str, Any]:
    return {
        "trial": best.index,
        "run": f"{TRIALS_DIR}/{best.run}",
        "values": best.values,
        "seed": best.seed,
        "metrics": best.metrics,
        "epochs": best.epochs,
        "train_seconds": best.train_seconds,
    }
