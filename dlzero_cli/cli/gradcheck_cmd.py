"""`dlzero gradcheck`: backprop's gradients against central differences, per parameter."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import (
    DATA_DIR_OPTION,
    RUNS_DIR_OPTION,
    handles_errors,
    runs_dir_or_default,
    say_latest,
    stdout,
)

if TYPE_CHECKING:
    from dlzero_cli.visual.gradcheck import GradcheckReport


@app.command("gradcheck")
@handles_errors
def gradcheck_command(
    target: str = typer.Argument(
        None,
        help="A RUN (`latest`, or an existing run folder) or a CONFIG (a YAML file or a "
        "shipped config's name) [default: the default config].",
        show_default=False,
    ),
    samples: int = typer.Option(3, "--samples", help="Samples in the batch the loss is on."),
    entries: int = typer.Option(
        200, "--entries", help="Entries checked per parameter (a seeded sample of larger ones)."
    ),
    check_all: bool = typer.Option(False, "--all", help="Check every entry of every parameter."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples and the entries drawn."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    set_: list[str] = typer.Option([], "--set", help="Override a CONFIG value (repeatable)."),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Compare each parameter's backprop gradient with the central difference
    (f(w + h) - f(w - h)) / 2h, h = 1e-6, in float64: the book's gradient_check.py.

    The loss is on a few training samples (seeded random inputs when the dataset is not
    on disk), in training mode: dropout's masks are drawn once and held, batch norm uses
    the batch's statistics. A parameter passes when its relative error
    |a - n| / (|a| + |n|) (norms over the entries checked) is below 1e-5, or when no
    entry differs by more than 1e-8 (vanishing gradients, below what float64 central
    differences resolve). Entries with a kink of the loss within +-h (a ReLU input or a
    max-pooling tie crossing over) are skipped and counted. Exit 1 when any parameter
    fails.

    Examples:

    ```
    dlzero gradcheck                      # the default config's fresh network
    dlzero gradcheck simple-convnet-mnist --samples 2
    dlzero gradcheck latest --all --json
    ```
    """
    from dlzero_cli.visual.gradcheck import gradcheck
    from dlzero_cli.visual.sources import open_subject

    subject = open_subject(target, runs_dir_or_default(runs_dir), set_)
    say_latest(subject.run)
    report = gradcheck(subject, samples, None if check_all else entries, data_dir, seed)
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        _print_report(report)
    if not report.passed:
        print(
            f"error: gradient check failed for {', '.join(report.failed)}: backprop and "
            "central differences disagree",
            file=sys.stderr,
        )
        raise typer.Exit(1)


def _print_report(report: GradcheckReport) -> None:
    from dlzero_cli.cli.tables import plain_table, table

    headers = ["param", "shape", "checked", "kinks", "max |diff|", "rel. error", "result"]
    cells = [
        [
            p.book_name,
            "x".join(map(str, p.check.shape)),
            f"{p.check.checked}/{p.check.size}",
            str(p.check.kinks),
            f"{p.check.max_abs_diff:.2e}",
            f"{p.check.relative_error:.2e}",
            "pass" if p.check.passed else "FAIL",
        ]
        for p in report.parameters
    ]
    state = "trained weights" if report.trained else "fresh weights"
    title = f"{report.subject} ({state}), float64, on {report.samples}"
    if stdout.is_terminal:
        stdout.print(table(headers, cells, right={2, 3, 4, 5}, title=title))
    else:
        print(f"{title}\n{plain_table(headers, cells, {2, 3, 4, 5})}")
    verdict = "all parameters pass" if report.passed else f"{len(report.failed)} fail"
    print(
        f"{verdict} (tolerance: relative error < {report.tolerance:g}, or every difference "
        f"< {report.absolute_tolerance:g})"
    )
