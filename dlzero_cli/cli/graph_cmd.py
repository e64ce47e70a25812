"""`dlzero graph`: a network or an arithmetic expression as a computational graph."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from dlzero_cli.cli import app
from dlzero_cli.cli.common import DATA_DIR_OPTION, RUNS_DIR_OPTION, handles_errors
from dlzero_cli.errors import UsageError


class Format(str, Enum):
    mermaid = "mermaid"
    dot = "dot"
    text = "text"


@app.command("graph")
@handles_errors
def graph_command(
    target: str = typer.Argument(
        None,
        help="A RUN (`latest`, or an existing run folder: a path or a name under the runs "
        "folder) or a CONFIG (a YAML file or a shipped config's name) [default: the "
        "default config].",
        show_default=False,
    ),
    expr: str = typer.Option(
        None,
        "--expr",
        help="Draw an arithmetic expression instead: + - * / **, unary minus, parentheses, "
        "exp, log, sigmoid, relu; `price = ...` names the result.",
        show_default=False,
    ),
    at: str = typer.Option(
        "", "--at", help="The expression's inputs: name=value,name=value.", show_default=False
    ),
    fmt: Format = typer.Option(
        Format.mermaid, "--format", case_sensitive=False, help="Output format."
    ),
    backward: bool = typer.Option(
        False,
        "--backward",
        help="Add the arrows back: gradient shapes, and for a RUN the norm of dL/d(each "
        "node's output) measured on --samples samples of its data (validation split, else "
        "test) in training mode. An expression always shows both ways.",
    ),
    samples: int = typer.Option(100, "--samples", help="The batch size the shapes are for."),
    out: Path = typer.Option(
        None, "--out", help="Write to FILE instead of stdout.", show_default=False
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a CONFIG value (repeatable)."),
    runs_dir: Path = RUNS_DIR_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Draw a network (one node per layer, parameters W1, b1, ... as inputs, batch shapes
    on the arrows) or an expression (values forward, derivatives back), as in the book's
    chapter 5. Mermaid renders on GitHub and in many editors; DOT pipes into Graphviz.

    Examples:

    ```
    dlzero graph                                  # the default config's network
    dlzero graph simple-convnet-mnist --format text
    dlzero graph latest --backward                # gradient norms of a trained run
    dlzero graph latest --format dot | dot -Tpng > graph.png
    dlzero graph --expr "price = apple * count * tax" --at apple=100,count=2,tax=1.1
    dlzero graph --expr "(x + y) ** 2" --at x=1,y=2 --format text
    ```
    """
    from dlzero_cli.cli.common import runs_dir_or_default, say_latest
    from dlzero_cli.visual.graphs import graph_of_expression, save_text, subject_graph
    from dlzero_cli.visual.render import render
    from dlzero_cli.visual.sources import open_subject

    if expr is not None:
        if target is not None:
            raise UsageError(f"give either a CONFIG/RUN ({target!r}) or --expr, not both")
        graph = graph_of_expression(expr, at)
    else:
        if at:
            raise UsageError("--at gives an expression's inputs; use it with --expr")
        subject = open_subject(target, runs_dir_or_default(runs_dir), set_)
        say_latest(subject.run)
        graph = subject_graph(subject, samples, backward, data_dir)
    text = render(graph, fmt.value)
    if out is not None:
        save_text(out, text)
    else:
        print(text, end="")
