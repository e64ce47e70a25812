"""Finding runs: a run folder by path, name or `latest`, and every run of a runs folder.

`RunFinding` is the part of `RunFolder` (which inherits it) that looks at many run
folders at once; it knows a run's files only through `RunFolder`'s paths and readers.
`latest` follows one rule for every command (see `RunFinding.latest`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dlzero_cli.errors import DlzeroError, RunError, RunNotFound
from dlzero_cli.runs.documents import RESUMABLE, Summary

if TYPE_CHECKING:  # for annotations only: RunFolder inherits RunFinding
    from dlzero_cli.runs.folder import RunFolder

RUNS_DIR_ENV = "DLZERO_RUNS_DIR"
# A sweep's folder (dlzero_cli.sweeps) keeps its trials' run folders in this subfolder.
TRIALS_FOLDER = "trials"


def default_runs_dir() -> Path:
    """--runs-dir's default: $DLZERO_RUNS_DIR (`~` expanded) when set and not empty, else
    ./runs (the same rule as the data folder's)."""
    configured = os.environ.get(RUNS_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path("runs")


@dataclass(frozen=True)
class RunListing:
    """One folder of `RunFolder.all`: its summary, or why it could not be read."""

    folder: RunFolder
    summary: Summary | None
    problem: str | None = None  # set exactly when summary is None
    is_sweep: bool = False  # a sweep's folder: its runs are in trials/

    @property
    def status(self) -> str:
        """The summary's status, except that a `running` run whose training process is
        gone (killed without a chance to say so) is `stopped`: resumable, not running."""
        if self.summary is not None:
            if self.summary.status == "running" and self.folder.trainer_gone():
                return "stopped"
            return self.summary.status
        return "sweep" if self.is_sweep else "unreadable"


class RunFinding:
    """Finding and listing run folders (a base of `RunFolder`)."""

    @classmethod
    def find(
        cls,
        run: str,
        runs_dir: Path | None = None,
        need_weights: bool = True,
        resumable: bool = False,
    ) -> RunFolder:
        """A run folder from a path, a name under `runs_dir`, or `latest` (see `latest`).

        A summary.json of a newer format than this dlzero reads is refused.
        """
        runs_dir = runs_dir or default_runs_dir()
        if run == "latest":
            folder = cls.latest(runs_dir, need_weights, resumable)
        else:
            path = Path(run)
            if not path.exists() and (runs_dir / run).exists():
                path = runs_dir / run
            if not path.is_dir():
                raise RunNotFound(
                    f"{run}: no such run folder; give a path under {runs_dir}/ or `latest`"
                )
            folder = cls(path)
        trials = folder.path / TRIALS_FOLDER
        if not folder.summary_path.exists() and trials.is_dir():
            raise RunError(
                f"{folder.path}: a sweep's folder, not a run; its runs are in {trials} "
                f"(list them with: dlzero runs --runs-dir {trials})"
            )
        folder.refuse_newer_format()
        if need_weights and not folder.weights_path.is_file():
            raise RunError(
                f"{folder.path}: not a finished run (no {folder.weights_path.name}); "
                "train one with `dlzero train`"
            )
        return folder

    @classmethod
    def latest(
        cls, runs_dir: Path, need_weights: bool = True, resumable: bool = False
    ) -> RunFolder:
        """The newest run by its summary's start time (never by modification time: looking
        at an old run does not make it new) that can serve: with `need_weights`, the
        newest that has weights.npz; with `resumable`, the newest that `train --resume`
        can continue (status running with its trainer gone, interrupted or failed, or an
        unreadable summary, and a checkpoint); otherwise the newest of all. One rule for
        every command: whenever that is not the newest run, `note` says which run was
        chosen and which were skipped, and why."""
        candidates = [cls(p) for p in _subfolders(runs_dir) if cls(p).summary_path.is_file()]
        if not candidates:
            raise RunNotFound(f"{runs_dir}: no runs yet; train one with `dlzero train`")
        newest_first = sorted(candidates, key=cls._started_at, reverse=True)
        if resumable:
            usable = [f for f in newest_first if f._why_not_resumable() is None]
            what, why_not = "the newest run that can be resumed", cls._why_not_resumable
            newest = newest_first[0]
            none = (
                f"no run can be resumed (the newest, {newest.name}, is "
                f"{newest._why_not_resumable()}; {len(candidates)} run(s) in all)"
            )
        elif need_weights:
            usable = [f for f in newest_first if f.weights_path.is_file()]
            what = "the newest run with weights"
            why_not = cls._why_no_weights
            none = (
                f"no run has weights yet ({len(candidates)} without "
                f"{newest_first[0].weights_path.name}: still "
                "training, or stopped before any); train one with `dlzero train`"
            )
        else:
            return newest_first[0]
        if not usable:
            raise RunError(f"{runs_dir}: {none}")
        chosen = usable[0]
        skipped = newest_first[: newest_first.index(chosen)]
        if not skipped:
            return chosen
        why = ", ".join(f"{f.name} ({why_not(f)})" for f in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        note = f"latest: using {chosen.name}, {what}; skipped {why}{more}"
        return cls(chosen.path, note=note)

    def _why_no_weights(self) -> str:
        return f"{self._status_text()}, no {self.weights_path.name}"

    def _why_not_resumable(self) -> str | None:
        """Why `train --resume` cannot continue this run; None when it can."""
        status = self._status_text()
        if status not in RESUMABLE and status != "unreadable summary":
            return status
        if not self.has_checkpoint():
            return f"{status}, no {self.checkpoint_path.name}"
        if status == "running" and not self.trainer_gone():
            return "running: being trained"
        return None

    def _status_text(self) -> str:
        try:
            status = json.loads(self.summary_path.read_text(encoding="utf-8"))["status"]
        except (OSError, ValueError, KeyError, TypeError):
            return "unreadable summary"
        return str(status)

    @classmethod
    def all(cls, runs_dir: Path | None = None) -> list[RunListing]:
        """Every folder in `runs_dir`, oldest first; an unreadable one is listed with the
        reason (missing or corrupt summary, newer format), never raised."""
        listings = []
        for path in _subfolders(runs_dir or default_runs_dir()):
            folder = cls(path)
            trials = path / TRIALS_FOLDER
            if not folder.summary_path.exists() and trials.is_dir():
                count = len(_subfolders(trials))
                where = f"{count} trials; list them with --runs-dir {trials}"
                listings.append(RunListing(folder, None, where, is_sweep=True))
                continue
            try:
                listings.append(RunListing(folder, folder.read_summary()))
            except DlzeroError as exc:
                listings.append(RunListing(folder, None, str(exc)))
        return sorted(listings, key=_listing_order)

    def _started_at(self) -> tuple[str, float]:
        """Sort key: the summary's start time, then the folder's modification time."""
        try:
            started = json.loads(self.summary_path.read_text(encoding="utf-8"))["started_at"]
        except (OSError, ValueError, KeyError, TypeError):
            started = ""
        return str(started), self._modified()

    def _modified(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0


def _listing_order(entry: RunListing) -> tuple[str, float]:
    """Oldest first: the summary's start time, then the folder's modification time."""
    started = entry.summary.started_at if entry.summary is not None else ""
    return started, entry.folder._modified()


def _subfolders(runs_dir: Path) -> list[Path]:
    """The folders in `runs_dir` (none when it does not exist yet)."""
    try:
        return [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RunError(f"{runs_dir}: cannot list the runs folder: {exc.strerror}") from None
