"""How fast `dlzero runs list` is over many runs: it reads summaries only.

Creates N run folders in a temporary folder, each with a realistic summary.json
(written through RunFolder, as training writes it), plus a few unreadable ones (a
missing and a corrupt summary), then times what the command does: RunFolder.all, the
rows (filter and sort) and rendering the table, both as a rich table (a terminal) and
as plain columns (a pipe). Each is the best of `--rounds`.

    python benchmarks/bench_runs_list.py [--runs 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from rich.console import Console

from dlzero_cli.cli.runs_cmd import LIST_HEADERS, LIST_RIGHT, list_cells, listing_renderable
from dlzero_cli.cli.tables import table
from dlzero_cli.runs.documents import Outcome, Score, Summary
from dlzero_cli.runs.folder import RunFolder
from dlzero_cli.runs.listing import list_runs
from dlzero_cli.training import EpochRecord

UNREADABLE = 5  # of each kind: no summary, a corrupt one


def make_runs(runs_dir: Path, count: int) -> None:
    statuses = ["completed"] * 7 + ["interrupted", "diverged", "running"]
    for i in range(count):
        name = f"digits-64-50-100-10-lr{i % 17}"
        folder = RunFolder(
            runs_dir / f"20261130T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z-{name}"
        )
        folder.path.mkdir()
        status = statuses[i % len(statuses)]
        final = EpochRecord(100, 0.01 + i * 1e-6, 0.99, 0.1, 0.97 - i * 1e-5, 0.1, 0.01)
        done = status != "running"
        folder.write_summary(
            Summary(
                name=name,
                status=status,
                started_at=f"2026-11-30T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
                dataset="digits",
                layers="64-50-100-10",
                parameters=9360,
                seed=i,
                samples={"train": 1294, "val": 144, "test": 359},
                versions={"python": "3.11.7", "numpy": "2.4.6", "dlzero": "0.1.0"},
                finished_at="2026-11-30T12:00:00+00:00" if done else None,
                outcome=Outcome(1.2, 100, 97, "val_loss", "min", False, 108000.0, final, 0.98)
                if done
                else None,
                test=Score(0.09, 0.96 + (i % 40) / 1000) if status == "completed" else None,
            )  # fmt: skip
        )
    for i in range(UNREADABLE):
        (runs_dir / f"no-summary-{i}").mkdir()
        (runs_dir / f"corrupt-{i}").mkdir()
        (runs_dir / f"corrupt-{i}" / "summary.json").write_text('{"name": ')


def best_of(rounds: int, job) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = job()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        make_runs(runs_dir, args.runs)
        folders = args.runs + 2 * UNREADABLE

        def rows():
            return list_runs(runs_dir, sort="test_acc")

        def listing(terminal: bool):
            """What `dlzero runs list --sort test_acc` does (print_rows), into memory."""
            shown = listing_renderable(rows(), terminal)
            if isinstance(shown, str):
                print(shown, file=io.StringIO())
            else:
                Console(file=io.StringIO(), width=200, force_terminal=terminal).print(shown)

        def boxed_listing():
            """For reference: a boxed rich table of every row (what RICH_ROWS avoids)."""
            console = Console(file=io.StringIO(), width=200, force_terminal=True)
            console.print(table(LIST_HEADERS, [list_cells(r) for r in rows()], LIST_RIGHT))

        read, found = best_of(args.rounds, rows)
        assert len(found) == folders
        assert sum(r.status == "unreadable" for r in found) == 2 * UNREADABLE
        terminal, _ = best_of(args.rounds, lambda: listing(True))
        piped, _ = best_of(args.rounds, lambda: listing(False))
        boxed, _ = best_of(args.rounds, boxed_listing)
        print(f"{folders:,} run folders ({2 * UNREADABLE} unreadable), best of {args.rounds}:")
        for label, seconds in (
            ("read summaries + rows (RunFolder.all, filter, sort)", read),
            ("`dlzero runs list`: rows + table, on a terminal", terminal),
            ("`dlzero runs list`: rows + table, piped", piped),
            ("(reference: rows + a boxed rich table of them all)", boxed),
        ):
            print(f"  {label:<54} {seconds * 1000:8.1f} ms  {folders / seconds:10,.0f} runs/s")


if __name__ == "__main__":
    main()
