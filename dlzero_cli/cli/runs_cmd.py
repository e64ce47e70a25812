"""`dlzero runs [list|show|verify]`: see many runs, look at one, check one reproduces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    fmt,
    handles_errors,
    runs_dir_or_default,
    say_latest,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from rich.table import Table

    from dlzero_cli.runs.listing import RunDetails, RunRow
    from dlzero_cli.runs.verify import Rerun, Verification

runs_app = typer.Typer(
    help="List the runs (`dlzero runs` alone lists them), show one, verify one.",
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(runs_app, name="runs")

# Kept in step with dlzero_cli.runs.listing's STATUSES and SORT_KEYS by a test; spelled
# out here so that `--help` imports nothing heavy.
STATUS_HELP = (
    "Only runs with this status: completed, interrupted, diverged, failed, imported, "
    "running, stopped (killed while training; resumable), unreadable or sweep (a sweep's "
    "folder; its runs are in its trials/)."
)
SORT_HELP = (
    "Order by: name, started, status, dataset, layers, epochs, best_val_acc, test_acc or "
    "wall (accuracies best first; missing values last)."
)


def _options(default_sort: str = "started"):
    return {
        "status": typer.Option(None, "--status", help=STATUS_HELP, show_default=False),
        "dataset": typer.Option(None, "--dataset", help="Only runs on this dataset."),
        "name": typer.Option(
            None, "--name", help="Only runs whose folder or config name matches a glob: 'xor*'."
        ),
        "sort": typer.Option(default_sort, "--sort", help=SORT_HELP),
        "reverse": typer.Option(False, "--reverse", help="Reverse the order."),
        "as_json": typer.Option(False, "--json", help="Print one JSON list and nothing else."),
    }


OPTIONS = _options()


@runs_app.callback(invoke_without_command=True)
@handles_errors
def runs_callback(
    ctx: typer.Context,
    status: str = OPTIONS["status"],
    dataset: str = OPTIONS["dataset"],
    name: str = OPTIONS["name"],
    sort: str = OPTIONS["sort"],
    reverse: bool = OPTIONS["reverse"],
    as_json: bool = OPTIONS["as_json"],
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """One row per run: name, started, status, dataset, layers, epochs, best validation
    accuracy, test accuracy, wall time. `dlzero runs` alone is `dlzero runs list`.

    ```
    dlzero runs
    dlzero runs --status completed --sort test_acc
    dlzero runs show latest
    dlzero runs verify latest --rerun
    ```
    """
    if ctx.invoked_subcommand is None:
        _list(status, dataset, name, sort, reverse, as_json, runs_dir)
    elif (status, dataset, name, sort, reverse, as_json, runs_dir) != (
        None, None, None, "started", False, False, None,
    ):  # fmt: skip
        from dlzero_cli.errors import UsageError

        raise UsageError(
            f"options go after the command: dlzero runs {ctx.invoked_subcommand} [OPTIONS]"
        )


@runs_app.command("list")
@handles_errors
def list_command(
    status: str = OPTIONS["status"],
    dataset: str = OPTIONS["dataset"],
    name: str = OPTIONS["name"],
    sort: str = OPTIONS["sort"],
    reverse: bool = OPTIONS["reverse"],
    as_json: bool = OPTIONS["as_json"],
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """One row per run folder, read from the summaries alone (fast for thousands).

    A folder whose summary is missing or corrupt is a row `unreadable` with the reason;
    a run being trained right now is `running`, one whose training process was killed
    before it could say so is `stopped` (continue it with `dlzero train --resume`).

    ```
    dlzero runs list --dataset digits --sort best_val_acc
    dlzero runs list --name 'xor*' --json
    ```
    """
    _list(status, dataset, name, sort, reverse, as_json, runs_dir)


def _list(status, dataset, name, sort, reverse, as_json, runs_dir) -> None:
    from dlzero_cli.runs.listing import RunFilter, list_runs

    folder = runs_dir_or_default(runs_dir)
    rows = list_runs(folder, RunFilter(status, dataset, name), sort, reverse)
    if as_json:
        print(json.dumps([row.to_json() for row in rows]))
        return
    if not rows:
        filtered = any(v is not None for v in (status, dataset, name))
        stdout.print(
            f"no runs in {folder} match" if filtered
            else f"no runs in {folder} yet; train one with `dlzero train`"
        )  # fmt: skip
        return
    print_rows(rows)


LIST_HEADERS = ["run", "started", "status", "dataset", "layers", "epochs", "best val acc",
                "test acc", "wall"]  # fmt: skip
LIST_RIGHT = {5, 6, 7, 8}


def list_cells(row: RunRow) -> list[str]:
    from dlzero_cli.cli.tables import duration, when

    return [
        row.run, when(row.started), row.status, row.dataset or "-", row.layers or "-",
        "-" if row.epochs is None else str(row.epochs), fmt(row.best_val_acc),
        fmt(row.test_acc), duration(row.wall_seconds),
    ]  # fmt: skip


# A boxed rich table costs about half a millisecond a row to render: past a screenful,
# the terminal gets the aligned columns that pipes get (1,000 rows in ~10 ms, not ~0.5 s).
RICH_ROWS = 200


def listing_renderable(rows: list[RunRow], terminal: bool) -> Table | str:
    """The listing as printed: a rich table on a terminal (up to RICH_ROWS rows),
    aligned plain columns otherwise."""
    from dlzero_cli.cli.tables import plain_table, table

    headers, cells = list(LIST_HEADERS), [list_cells(row) for row in rows]
    if any(row.problem for row in rows):
        headers.append("problem")
        for row, line in zip(rows, cells, strict=True):
            # An unreadable folder's reason without the folder's own path, which the row
            # already names; a sweep's line is a command to copy, so it stays whole.
            problem = row.problem or ""
            if row.status == "unreadable":
                problem = problem.replace(f"{row.path}/", "")
            line.append(problem)
    if terminal and len(rows) <= RICH_ROWS:
        return table(headers, cells, LIST_RIGHT)
    return plain_table(headers, cells, LIST_RIGHT)


def print_rows(rows: list[RunRow]) -> None:
    shown = listing_renderable(rows, stdout.is_terminal)
    if isinstance(shown, str):
        print(shown)
    else:
        stdout.print(shown)


# --------------------------------------------------------------------------- show


@runs_app.command("show")
@handles_errors
def show_command(
    run: str = typer.Argument(..., help="A run folder, its name, or `latest`."),
    epochs: int = typer.Option(10, "--epochs", min=0, help="How many of the last epochs."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    runs_dir: Path = RUNS_DIR_OPTION,
) -> None:
    """A run's summary, its resolved config and its last epochs' metrics.

    ```
    dlzero runs show latest
    dlzero runs show 20261129T080000Z-xor-2-4-1 --epochs 3
    dlzero runs show latest --json
    ```
    """
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.runs.listing import run_details

    folder = RunFolder.find(run, runs_dir_or_default(runs_dir), need_weights=False)
    details = run_details(folder, epochs)
    if as_json:
        print(json.dumps(details.to_json()))
        return
    _print_details(details)


def _print_details(details: RunDetails) -> None:
    from dlzero_cli.cli.tables import duration, plain_table, table, when

    row, summary = details.row, details.summary
    outcome = summary.outcome
    lines = [
        ("run", str(row.path)),
        ("status", row.status + (f" ({summary.error})" if summary.error else "")),
        ("started", f"{when(summary.started_at)} UTC, finished {when(summary.finished_at)}, "
                    f"wall {duration(row.wall_seconds)}"),
        ("dataset", (row.dataset or "-") + (
            "  (" + ", ".join(f"{k} {v:,}" for k, v in summary.samples.items()) + ")"
            if summary.samples else "")),
        ("layers", f"{row.layers or '-'}  ({summary.parameters or 0:,} parameters)"),
        ("seed", "-" if summary.seed is None else str(summary.seed)),
    ]  # fmt: skip
    if outcome is not None:
        early = ", stopped early" if outcome.stopped_early else ""
        best = f"best {outcome.best_epoch} by {outcome.best_metric} ({outcome.best_mode})"
        lines.append(("epochs", f"{outcome.epochs_completed}, {best}{early}"))
        lines.append(("best val acc", fmt(outcome.best_val_acc)))
    if summary.test is not None:
        lines.append(
            ("test", f"loss {fmt(summary.test.loss)}  accuracy {fmt(summary.test.accuracy)}")
        )
    if summary.imported_from:
        lines.append(("imported", f"{summary.imported_from} (sha256 {summary.imported_sha256})"))
    if details.manifest is not None:
        env = details.manifest.environment
        lines.append(("versions", ", ".join(f"{k} {v}" for k, v in env.versions.items())))
        blas = ", ".join(f"{b.internal_api} {b.version or '?'}" for b in env.blas) or "none"
        requested = "" if env.threads_requested is None else " (as asked)"
        lines.append(("BLAS", f"{blas}, {env.threads} threads{requested}"))
    else:
        lines.append(("manifest", "none (trained before runs recorded one)"))
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        stdout.print(f"{key:<{width}}  {value}", soft_wrap=True, markup=False)
    stdout.print("\nconfig (resolved):", markup=False)
    print(details.config_text.rstrip())
    if details.metrics_problem:
        stdout.print(f"\nmetrics: {details.metrics_problem}", markup=False, soft_wrap=True)
        return
    shown = len(details.last_epochs)
    if not shown:
        stdout.print("\nmetrics: no completed epoch" if details.epochs_total == 0 else "")
        return
    title = f"last {shown} of {details.epochs_total} epochs"
    headers = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    cells = [
        [str(r.epoch), fmt(r.train_loss), fmt(r.train_acc), fmt(r.val_loss), fmt(r.val_acc),
         f"{r.lr:.6g}", f"{r.seconds:.3f}"]
        for r in details.last_epochs
    ]  # fmt: skip
    right = set(range(len(headers)))
    if stdout.is_terminal:
        stdout.print()
        stdout.print(table(headers, cells, right, title=f"metrics: {title}"))
    else:
        print(f"\nmetrics: {title}\n{plain_table(headers, cells, right)}")


# --------------------------------------------------------------------------- verify


@runs_app.command("verify")
@handles_errors
def verify_command(
    run: str = typer.Argument(..., help="A run folder, its name, or `latest`."),
    rerun: bool = typer.Option(
        False,
        "--rerun",
        help="Also train the run's config again (same seed, same BLAS threads) in a "
        "temporary folder and compare metrics and weights bit for bit.",
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the rerun's folder and say where."),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Check a run's files against the hashes its manifest recorded at training time.

    Exit 0 when every file matches (and, with --rerun, when the rerun's metrics, the
    `seconds` column aside, and weights are bit-identical); 1 otherwise, naming each
    file that differs and the first epoch and parameter that differ. A rerun also says
    whether the Python, NumPy, dlzero or BLAS in use differ from the recorded ones:
    those can legitimately change the last bits.

    ```
    dlzero runs verify latest
    dlzero runs verify latest --rerun
    ```
    """
    from dlzero_cli.runs.folder import RunFolder
    from dlzero_cli.runs.verify import rerun_run, threads_text, verify_files

    folder = RunFolder.find(run, runs_dir_or_default(runs_dir))
    say_latest(folder)
    verification = verify_files(folder)
    _print_verification(verification)
    ok = verification.ok
    if rerun:
        env = verification.manifest.environment
        threads = env.threads_requested or env.threads
        stderr.print(
            f"rerunning {folder.name} with {threads_text(threads)} of BLAS ...",
            markup=False,
            soft_wrap=True,
        )
        result = rerun_run(folder, data_dir, keep)
        _print_rerun(result)
        ok = ok and result.ok
    if not ok:
        raise typer.Exit(1)


def _print_verification(verification: Verification) -> None:
    for check in verification.checks:
        detail = "" if check.status == "ok" else (
            f"  (recorded sha256 {check.expected[:16]}..., now {check.actual[:16]}...)"
            if check.actual else "  (recorded, now missing)"
        )  # fmt: skip
        stdout.print(f"{check.status:<8}{check.name}{detail}", markup=False, soft_wrap=True)
    if verification.ok:
        stdout.print(f"files: all {len(verification.checks)} match the manifest", markup=False)
    else:
        bad = [c.name for c in verification.checks if c.status != "ok"]
        stdout.print(f"files: {', '.join(bad)} do not match the manifest", markup=False)


def _print_rerun(result: Rerun) -> None:
    def say(text: str) -> None:
        stdout.print(text, markup=False, soft_wrap=True)

    if result.environment_changes:
        say("environment: differs from the recorded one: " + "; ".join(result.environment_changes)
            + " (this alone can change the last bits)")  # fmt: skip
    else:
        say(f"environment: as recorded ({result.environment_text})")
    if result.data_changes:
        say("dataset: differs from the recorded arrays in split " + ", ".join(result.data_changes))
    else:
        say("dataset: the same arrays as recorded")
    if result.metrics is None:
        say(f"metrics: identical over {result.epochs_rerun} epochs (seconds aside)")
    else:
        m = result.metrics
        say(f"metrics: first difference at epoch {m.epoch}, {m.column}: recorded "
            f"{m.recorded!r}, rerun {m.rerun!r}")  # fmt: skip
    for check in result.weights:
        if check.array is None:
            say(f"{check.file}: identical ({check.arrays} arrays)")
        else:
            diff = (
                ""
                if check.max_abs_diff is None
                else f", max abs difference {check.max_abs_diff:.3g}"
            )
            say(f"{check.file}: first differing array {check.array} ({check.note}{diff})")
    if result.kept is not None:
        say(f"rerun kept in {result.kept}")
    say("rerun: bit-identical" if result.ok else "rerun: differs")
