"""The layering rules: the engine is pure NumPy; only the CLI touches typer and rich."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dlzero_cli

PACKAGE = Path(dlzero_cli.__file__).parent
ENGINE_ALLOWED = {"numpy", "dlzero_cli.engine", "dlzero_cli.errors"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_imports_only_numpy_the_stdlib_and_itself():
    for path in (PACKAGE / "engine").glob("*.py"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or any(
                name == a or name.startswith(a + ".") for a in ENGINE_ALLOWED
            )
            assert allowed, f"{path.name} imports {name}"


def test_only_the_cli_imports_typer_and_rich():
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts[:1]:
            continue
        tops = {name.split(".")[0] for name in imported_modules(path)}
        assert not tops & {"typer", "rich", "click"}, f"{path} imports {tops & {'typer', 'rich'}}"


def test_the_cli_reads_no_files_itself():
    """Commands parse arguments and print (CSV on stdout included); YAML, pickles and
    the run folder's files are the library's (config, runs), never a command's."""
    for path in (PACKAGE / "cli").glob("*.py"):
        tops = {name.split(".")[0] for name in imported_modules(path)}
        assert not tops & {"yaml", "pickle"}, f"{path.name} imports {tops & {'yaml', 'pickle'}}"
        text = path.read_text(encoding="utf-8")
        for name in ("config.yaml", "summary.json", "weights.npz", "metrics.csv"):
            assert f'"{name}"' not in text, f"{path.name} names {name}"


def test_help_does_not_import_numpy():
    code = (
        "import sys\n"
        "from dlzero_cli.cli import app\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "heavy = ('numpy', 'pydantic', 'yaml', 'PIL', 'matplotlib', 'dask', 'distributed',\n"
        "         'threadpoolctl')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
