"""cli/usage.py's two dependencies on its surroundings: the interrupt exit code is one
constant, and the private `typer._click` it imports is what Typer raises, within the
typer versions pyproject.toml allows."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

import dlzero_cli
from dlzero_cli.cli.usage import INTERRUPT_EXIT

PACKAGE = Path(dlzero_cli.__file__).parent
# The checkout (pyproject.toml), wherever the package was installed to (CI: site-packages).
REPO = Path(__file__).resolve().parents[2]


def test_commands_exit_130_through_the_constant():
    assert INTERRUPT_EXIT == 130
    literal = [
        path.name
        for path in (PACKAGE / "cli").glob("*.py")
        if re.search(r"Exit\(130\)", path.read_text(encoding="utf-8"))
    ]
    assert literal == []


def test_typer_raises_the_click_exceptions_usage_catches_and_is_pinned():
    import typer
    from typer._click import exceptions as click_errors
    from typer.testing import CliRunner

    app = typer.Typer()

    @app.command()
    def main(n: int) -> None:
        pass

    result = CliRunner().invoke(app, ["x"], standalone_mode=False)
    assert isinstance(result.exception, click_errors.BadParameter)
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    [spec] = [d for d in project["project"]["dependencies"] if d.startswith("typer")]
    low, high = re.fullmatch(r"typer>=([\d.]+),<([\d.]+)", spec).groups()
    installed = tuple(int(p) for p in version("typer").split(".")[:3])
    assert tuple(map(int, low.split("."))) <= installed < tuple(map(int, high.split(".")))
