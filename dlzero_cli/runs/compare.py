"""Runs side by side: the config keys that differ, their final and test metrics, their
per-epoch curves, and one PNG overlaying them (compare-<runs>.png)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlzero_cli import plots
from dlzero_cli.errors import DlzeroError, UsageError
from dlzero_cli.runs.folder import RunFolder, RunListing, comparison_path
from dlzero_cli.runs.listing import RunRow, row_of
from dlzero_cli.training import EpochRecord


class Absent:
    """A key one run's config has and another's lacks (older dlzero, other layers)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = Absent()


@dataclass(frozen=True)
class ConfigDifference:
    key: str  # a dotted path, as --set takes it: train.optimizer.lr
    values: tuple[Any, ...]  # one per run; ABSENT where a run's config has no such key


@dataclass(frozen=True)
class RunCurve:
    run: str
    records: tuple[EpochRecord, ...]
    note: str | None = None  # why there is no curve (imported, unreadable metrics)


@dataclass(frozen=True)
class Metric:
    name: str
    values: tuple[float | int | str | None, ...]  # one per run


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunRow, ...]
    differences: tuple[ConfigDifference, ...]
    metrics: tuple[Metric, ...]
    curves: tuple[RunCurve, ...]
    plot: Path

    def to_json(self) -> dict[str, Any]:
        def value(v: Any) -> Any:
            return None if v is ABSENT else v

        return {
            "runs": [row.to_json() for row in self.runs],
            "differences": {d.key: [value(v) for v in d.values] for d in self.differences},
            "absent": {
                d.key: [v is ABSENT for v in d.values]
                for d in self.differences
                if ABSENT in d.values
            },  # fmt: skip
            "metrics": {m.name: list(m.values) for m in self.metrics},
            "val_acc": {c.run: [r.val_acc for r in c.records] for c in self.curves},
            "notes": {c.run: c.note for c in self.curves if c.note},
            "plot": str(self.plot),
        }


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"train": {"optimizer": {"lr": 0.1}}} -> {"train.optimizer.lr": 0.1}; lists and
    empty mappings are values."""
    if not isinstance(data, dict) or not data:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(configs: list[dict[str, Any]]) -> tuple[ConfigDifference, ...]:
    """The dotted keys whose values are not the same in every config, in first-seen order."""
    flats = [flatten(config) for config in configs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    differences = []
    for key in keys:
        values = tuple(flat.get(key, ABSENT) for flat in flats)
        if any(v is ABSENT or v != values[0] for v in values[1:]) or ABSENT is values[0]:
            differences.append(ConfigDifference(key, values))
    return tuple(differences)


def _metrics(rows: list[RunRow], listings: list[RunListing]) -> tuple[Metric, ...]:
    def outcome(listing: RunListing, get) -> Any:
        summary = listing.summary
        return None if summary is None or summary.outcome is None else get(summary.outcome)

    def final(listing: RunListing, column: str) -> Any:
        return outcome(listing, lambda o: None if o.final is None else getattr(o.final, column))

    def test(listing: RunListing, get) -> Any:
        summary = listing.summary
        return None if summary is None or summary.test is None else get(summary.test)

    table = [
        ("status", lambda r, _: r.status),
        ("epochs", lambda r, _: r.epochs),
        ("best epoch", lambda _, s: outcome(s, lambda o: o.best_epoch)),
        ("final train_loss", lambda _, s: final(s, "train_loss")),
        ("final train_acc", lambda _, s: final(s, "train_acc")),
        ("final val_loss", lambda _, s: final(s, "val_loss")),
        ("final val_acc", lambda _, s: final(s, "val_acc")),
        ("best val_acc", lambda r, _: r.best_val_acc),
        ("test loss", lambda _, s: test(s, lambda t: t.loss)),
        ("test accuracy", lambda r, _: r.test_acc),
        ("wall seconds", lambda r, _: r.wall_seconds),
    ]
    return tuple(
        Metric(name, tuple(get(row, listing) for row, listing in zip(rows, listings, strict=True)))
        for name, get in table
    )


def _curve(folder: RunFolder, status: str) -> RunCurve:
    try:
        records = tuple(folder.read_metrics())
    except DlzeroError as exc:
        return RunCurve(folder.name, (), f"no curve: {exc}")
    if not records:
        why = "imported, not trained here" if status == "imported" else "no completed epoch"
        return RunCurve(folder.name, (), f"no curve: {why}")
    return RunCurve(folder.name, records)


def compare_runs(folders: list[RunFolder], out_dir: Path | None = None) -> Comparison:
    """Compare two or more runs; draws compare-<runs>.png into `out_dir` (default: the
    first run's runs folder)."""
    if len(folders) < 2:
        raise UsageError("compare needs at least two runs; give two or more RUN arguments")
    paths = [folder.path.resolve() for folder in folders]
    if len(set(paths)) < len(paths):
        raise UsageError("the same run is given twice; give different runs to compare")
    listings = [RunListing(folder, folder.read_summary()) for folder in folders]
    rows = [row_of(listing) for listing in listings]
    configs = [folder.read_config_data() for folder in folders]
    curves = tuple(_curve(folder, row.status) for folder, row in zip(folders, rows, strict=True))
    out_dir = out_dir if out_dir is not None else folders[0].path.parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot create the folder: {exc.strerror}") from None
    plot = comparison_path(out_dir, [folder.name for folder in folders])
    differences = config_differences(configs)
    labels = _legend_labels([curve.run for curve in curves], differences)
    plots.plot_comparison(
        [
            (label, [r.as_dict() for r in curve.records])
            for label, curve in zip(labels, curves, strict=True)
        ],
        plot,
        "loss and accuracy per epoch (dashed: train, solid: validation)",
    )
    return Comparison(tuple(rows), differences, _metrics(rows, listings), curves,
                      plot)  # fmt: skip


LEGEND_KEYS = 3  # differing settings named in a curve's legend entry


def _legend_labels(runs: list[str], differences: tuple[ConfigDifference, ...]) -> list[str]:
    """Each run's name with what sets it apart ("... (lr=0.5, activation=relu)"): two runs
    of one config differ in their names only by a timestamp."""
    shown = [d for d in differences if d.key not in ("name", "description")][:LEGEND_KEYS]
    labels = []
    for index, run in enumerate(runs):
        parts = [
            f"{d.key.rsplit('.', 1)[-1]}={d.values[index]!s}"
            for d in shown
            if d.values[index] is not ABSENT
        ]
        labels.append(f"{run} ({', '.join(parts)})" if parts else run)
    return labels
