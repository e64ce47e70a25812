"""The command line: the only package that imports typer and rich.

Each command module declares its options, a docstring with examples, and one call
into the engine-side modules. Heavy imports (numpy, pydantic, yaml) happen inside the
commands so that `dlzero --help` starts fast.
"""

from __future__ import annotations

import typer

from dlzero_cli import __version__
from dlzero_cli.cli.usage import DlzeroGroup

app = typer.Typer(
    name="dlzero",
    cls=DlzeroGroup,
    help=(
        "Train, evaluate and use neural networks written from scratch in NumPy, "
        "after the book 'Deep Learning from Scratch'.\n\n"
        "Start with `dlzero train` (the default config on the embedded digits), then "
        "`dlzero eval latest`."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlzero {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


# Each module adds its command to `app` when imported.
from dlzero_cli.cli import (  # noqa: E402, F401
    check_cmd,
    compare_cmd,
    configs_cmd,
    data_cmds,
    eval_cmd,
    gradcheck_cmd,
    graph_cmd,
    import_cmd,
    inspect_cmd,
    predict_cmd,
    runs_cmd,
    summary_cmd,
    sweep_cmd,
    train_cmd,
)


def main() -> None:
    app()
