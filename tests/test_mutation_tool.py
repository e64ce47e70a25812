"""tools/mutation_check.py checked on a tiny repository: a mutant its test catches is
killed, one no test sees survives, one whose snippet is missing is an error (never a
kill); the mutated copy is what the tests import even with the original on PYTHONPATH,
and the tool notices when it is not; neither the checkout nor the copy keeps a trace of
any mutant."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "mutation_check.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutation_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["mutation_check"]


MUTANTS = """
[[mutant]]
id = "add-subtracts"
file = "calcpkg/calc.py"
original = "return a + b"
replacement = "return a - b"
description = "caught by test_add"
tests = ["tests/test_calc.py"]

[[mutant]]
id = "double-triples"
file = "calcpkg/calc.py"
original = "return 2 * x"
replacement = "return 3 * x"
description = "no test calls double"
tests = ["tests/test_calc.py"]

[[mutant]]
id = "not-there"
file = "calcpkg/calc.py"
original = "return a * b"
replacement = "return a / b"
description = "its snippet is not in the file"
tests = ["tests/test_calc.py"]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "calcpkg").mkdir(parents=True)
    (root / "calcpkg" / "__init__.py").write_text("")
    (root / "calcpkg" / "calc.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef double(x):\n    return 2 * x\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_calc.py").write_text(
        "from calcpkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    # What the copy must leave out: downloaded data, runs, history.
    (root / "data").mkdir()
    (root / "data" / "README.md").write_text("datasets go here\n")
    (root / "data" / "big.bin").write_bytes(b"\0" * 1000)
    (root / "runs" / "old").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


def every_byte(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_snippet_must_occur_exactly_once(tool, tmp_path):
    path = tmp_path / "mutants.toml"
    path.write_text(MUTANTS)
    add, double, missing = tool.load_mutants(path)
    text = "def add(a, b):\n    return a + b\n"
    assert tool.mutate(text, add) == "def add(a, b):\n    return a - b\n"
    with pytest.raises(ValueError, match="snippet not found"):
        tool.mutate(text, missing)
    with pytest.raises(ValueError, match="occurs 2 times"):
        tool.mutate(text + text, add)
    # Alternatives, for code being rewritten: the first one found is replaced.
    both = tool.Mutant("x", "f.py", ("a * b", "a + b"), ("a / b", "a - b"), "", ("t",))
    assert tool.mutate(text, both) == "def add(a, b):\n    return a - b\n"
    with pytest.raises(ValueError, match="not found in f.py .none of its 2 alternatives"):
        tool.mutate("pass\n", both)


def test_a_malformed_mutant_list_is_refused(tool, tmp_path):
    path = tmp_path / "mutants.toml"
    path.write_text(MUTANTS.replace('tests = ["tests/test_calc.py"]\n', "", 1))
    with pytest.raises(tool.MutantFileError, match="add-subtracts.*missing tests"):
        tool.load_mutants(path)


def test_applying_and_reverting_leaves_the_copy_byte_identical(tool, repo, tmp_path):
    (tmp_path / "mutants.toml").write_text(MUTANTS)
    add = tool.load_mutants(tmp_path / "mutants.toml")[0]
    original_repo = every_byte(repo)
    ws = tool.Workspace(repo, "calcpkg", {}, timeout=60)
    try:
        copied = every_byte(ws.root)
        assert set(copied) == {
            "calcpkg/__init__.py", "calcpkg/calc.py", "tests/test_calc.py",
            "pyproject.toml", "data/README.md",
        }  # fmt: skip
        saved = ws.apply(add)
        assert b"return a - b" in (ws.root / add.file).read_bytes()
        assert (repo / add.file).read_bytes() == original_repo[add.file]  # never the checkout
        ws.revert(add, saved)
        assert every_byte(ws.root) == copied
    finally:
        ws.remove()
    assert not ws.tmp.exists()
    assert every_byte(repo) == original_repo


@pytest.mark.slow  # five short pytest runs in subprocesses
def test_killed_survived_and_error_are_told_apart(tool, repo, tmp_path, monkeypatch, capsys):
    (tmp_path / "mutants.toml").write_text(MUTANTS)
    # The classic trap: the original package importable first (as an editable install
    # makes it). The tool must put the mutated copy ahead of it, or nothing is killed.
    monkeypatch.setenv("PYTHONPATH", str(repo))
    before = every_byte(repo)
    report = tmp_path / "report.json"
    code = tool.main(
        [
            "--repo", str(repo), "--mutants", str(tmp_path / "mutants.toml"),
            "--package", "calcpkg", "--canary-tests", "tests/test_calc.py",
            "--report", str(report), "--timeout", "120",
        ]
    )  # fmt: skip
    data = json.loads(report.read_text())
    status = {m["id"]: m["status"] for m in data["mutants"]}
    assert status == {"add-subtracts": "killed", "double-triples": "survived", "not-there": "error"}
    assert "snippet not found" in {m["id"]: m["detail"] for m in data["mutants"]}["not-there"]
    assert (data["killed"], data["survived"], data["errors"], data["score"]) == (1, 1, 1, 0.5)
    assert code == 1  # below --min-score 0.9, and an error
    assert "error: not-there: snippet not found" in capsys.readouterr().err
    assert every_byte(repo) == before


def test_the_import_check_notices_when_the_copy_is_not_what_is_imported(tool, repo):
    ws = tool.Workspace(repo, "calcpkg", {**os.environ, "PYTHONPATH": str(repo)}, timeout=60)
    try:
        shutil.rmtree(ws.root / "calcpkg")  # now only the original can be imported
        with pytest.raises(RuntimeError, match="not from .*the mutants would not be tested"):
            ws.check_imports_copy(["tests/test_calc.py"])
    finally:
        ws.remove()


@pytest.mark.slow  # three short pytest runs in subprocesses
def test_a_mutant_that_allocates_without_bound_hits_the_memory_limit(tool, repo, tmp_path):
    mutants = tmp_path / "mutants.toml"
    mutants.write_text(
        MUTANTS.replace(
            'replacement = "return a - b"', 'replacement = "return len(bytearray(8 << 30))"'
        )
    )
    report = tmp_path / "report.json"
    tool.main(
        [
            "--repo", str(repo), "--mutants", str(mutants), "--only", "add-subtracts",
            "--package", "calcpkg", "--canary-tests", "tests/test_calc.py",
            "--report", str(report), "--max-memory", "1",
        ]
    )  # fmt: skip
    (outcome,) = json.loads(report.read_text())["mutants"]
    assert outcome["status"] == "killed" and "MemoryError" in outcome["detail"]
