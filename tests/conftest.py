"""Shared fixtures: a CLI runner that keeps runs in a temporary folder, the shared data
folder, a digit-drawing pen. Tests use these as fixtures and never import each other."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlzero_cli.cli import app


class Cli:
    """Invoke `dlzero ...` in-process with --runs-dir pointing at a temp folder."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, runs: bool = True):
        argv = list(args)
        if (
            runs
            and argv
            and argv[0] in {"train", "eval", "predict", "import", "compare", "runs", "inspect"}
        ):
            argv += ["--runs-dir", str(self.runs_dir)]
        # A wide console: tables must not wrap the words the tests look for.
        return self.runner.invoke(app, argv, catch_exceptions=False, env={"COLUMNS": "200"})

    def json(self, *args: str):
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def latest_run(self) -> Path:
        return max(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime_ns)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "runs")


@pytest.fixture(scope="session")
def cli_in():
    """`cli_in(runs_dir)`: a `cli` for another runs folder (for module-scoped fixtures
    that train once and are copied into each test's `cli.runs_dir`)."""
    return Cli


@pytest.fixture
def train_run(cli):
    """`train_run("xor-2-4-1", "--epochs", "3")`: train quietly into cli's runs folder
    and return the new run folder."""

    def train(config: str = "digits-64-50-100-10", *args: str) -> Path:
        before = set(cli.runs_dir.iterdir()) if cli.runs_dir.is_dir() else set()
        result = cli("train", config, "--quiet", *args)
        assert result.exit_code == 0, result.stderr
        [run] = set(cli.runs_dir.iterdir()) - before
        return run

    return train


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# The book's weights and the real MNIST files live outside the repository, next to it on
# the development machines; point this variable at another copy to run those tests.
SHARED_DATA_ENV = "DLZERO_SHARED_DATA"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data_dir() -> Path:
    configured = os.environ.get(SHARED_DATA_ENV)
    return (
        Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"
    )


@pytest.fixture
def shared_data():
    """`shared_data("book/ch07_params.pkl", "mnist")`: those paths in the shared data folder
    (one path, or a tuple), or a skip that names the first one missing."""

    def need(*relative: str):
        paths = tuple(shared_data_dir() / name for name in relative)
        for path in paths:
            if not path.exists():
                pytest.skip(f"needs {path}; set {SHARED_DATA_ENV} to the shared data folder")
        return paths[0] if len(paths) == 1 else paths

    return need


@pytest.fixture
def fixtures() -> Path:
    """tests/fixtures: files made once and kept (e.g. run folders of older versions)."""
    return FIXTURES


@pytest.fixture
def legacy_run(tmp_path: Path):
    """`legacy_run("legacy-cnn")`: a copy in tmp_path of a run folder kept in
    tests/fixtures/legacy-runs, written by dlzero before the run folder recorded its
    format (format 1); safe to evaluate or resume."""

    def copy(name: str) -> Path:
        target = tmp_path / "legacy-runs" / name
        shutil.copytree(FIXTURES / "legacy-runs" / name, target)
        return target

    return copy


# Handwriting-like strokes per digit, in unit coordinates of the picture.
STROKES = {
    0: "ellipse",
    1: [[(0.45, 0.3), (0.55, 0.15), (0.55, 0.85)]],
    2: [[(0.25, 0.3), (0.4, 0.18), (0.6, 0.18), (0.72, 0.32), (0.65, 0.5), (0.25, 0.82),
         (0.78, 0.82)]],
    3: [[(0.25, 0.2), (0.7, 0.2), (0.45, 0.45), (0.7, 0.6), (0.65, 0.78), (0.45, 0.85),
         (0.25, 0.78)]],
    4: [[(0.6, 0.85), (0.6, 0.15), (0.2, 0.6), (0.8, 0.6)]],
    5: [[(0.72, 0.18), (0.32, 0.18), (0.28, 0.48), (0.55, 0.45), (0.7, 0.6), (0.62, 0.8),
         (0.3, 0.82)]],
    6: [[(0.65, 0.15), (0.35, 0.45), (0.3, 0.7), (0.45, 0.85), (0.65, 0.75), (0.62, 0.55),
         (0.35, 0.6)]],
    7: [[(0.2, 0.2), (0.8, 0.2), (0.45, 0.85)]],
    8: "eight",
    9: [[(0.68, 0.35), (0.5, 0.2), (0.32, 0.32), (0.4, 0.48), (0.68, 0.38), (0.62, 0.85)]],
}  # fmt: skip


def _draw_digit(digit, width, height, thickness, dx=0, dy=0, paper=255, ink=0):
    """A Pillow drawing of `digit`: dark ink on white paper unless told otherwise."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), paper)
    pen = ImageDraw.Draw(image)

    def at(point):
        return (dx + point[0] * width, dy + point[1] * height)

    shape = STROKES[digit]
    if shape == "ellipse":
        pen.ellipse([at((0.28, 0.15)), at((0.72, 0.85))], outline=ink, width=thickness)
    elif shape == "eight":
        pen.ellipse([at((0.33, 0.15)), at((0.67, 0.48))], outline=ink, width=thickness)
        pen.ellipse([at((0.3, 0.48)), at((0.7, 0.85))], outline=ink, width=thickness)
    else:
        for path in shape:
            pen.line([at(p) for p in path], fill=ink, width=thickness, joint="curve")
    return image


@pytest.fixture
def draw_digit():
    """`draw_digit(digit, width, height, thickness, dx=0, dy=0, paper=255, ink=0)`: a
    Pillow image of a handwriting-like digit."""
    return _draw_digit


@pytest.fixture
def check_layer():
    """`check_layer(layer, x, rng)`: every analytic gradient of `layer` within float64
    central differences' TOLERANCE (see engine.gradcheck.layer_gradient_errors)."""
    from dlzero_cli.engine.gradcheck import TOLERANCE, layer_gradient_errors

    def check(layer, x, rng) -> None:
        errors = layer_gradient_errors(layer, x, rng)
        wrong = {name: error for name, error in errors.items() if not error < TOLERANCE}
        assert not wrong, f"relative gradient errors above {TOLERANCE}: {wrong}"

    return check


# --------------------------------------------------------------------------- graph syntax

# Mermaid's own parser runs under node, with jsdom standing in for the browser it wants.
# Install it once outside the repository (the tests skip, naming this, when it is not):
#   npm install --prefix ~/.cache/dlzero-mermaid mermaid@12.3.0 jsdom@29.1.1
MERMAID_DIR_ENV = "DLZERO_MERMAID_DIR"
MERMAID_PARSE = """
import { JSDOM } from "jsdom";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
let text = "";
for await (const chunk of process.stdin) text += chunk;
try {
  const result = await mermaid.parse(text);
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(String(error.message).split("\\n").join(" | "));
  process.exit(1);
}
"""


@pytest.fixture(scope="session")
def parse_mermaid():
    """`parse_mermaid(text)`: the diagram type mermaid's own parser (npm `mermaid`, under
    node) reads from `text`; AssertionError with the parser's message when it fails.
    Skips, naming what is missing, without node or the package."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs the `node` binary on PATH to run mermaid's parser")
    folder = Path(os.environ.get(MERMAID_DIR_ENV, Path.home() / ".cache" / "dlzero-mermaid"))
    if not (folder / "node_modules" / "mermaid").is_dir():
        pytest.skip(
            f"needs the npm package mermaid in {folder}: npm install --prefix {folder} "
            f"mermaid@12.3.0 jsdom@29.1.1 (or set {MERMAID_DIR_ENV})"
        )

    def parse(text: str) -> str:
        import subprocess

        done = subprocess.run(
            [node, "--input-type=module", "-e", MERMAID_PARSE],
            input=text, capture_output=True, text=True, cwd=folder, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, f"mermaid cannot parse it: {done.stderr.strip()}\n{text}"
        return json.loads(done.stdout)["diagramType"]

    return parse


_MERMAID_NODE = re.compile(
    r'^  ([A-Za-z][A-Za-z0-9_]*)(\["|\(\("|\(\["|\[\[")((?:[^"])*)("\]|"\)\)|"\]\)|"\]\])$'
)
_MERMAID_EDGE = re.compile(
    r'^  ([A-Za-z][A-Za-z0-9_]*) (-->|==>)\|"([^"]*)"\| ([A-Za-z][A-Za-z0-9_]*)$'
)
_MERMAID_CLOSERS = {'["': '"]', '(("': '"))', '(["': '"])', '[["': '"]]'}


@pytest.fixture
def mermaid_structure():
    """`mermaid_structure(text)`: a strict check of dlzero's mermaid dialect, always run:
    `%%` comments, then `graph LR`, then node declarations (quoted labels, no raw `"`
    or `<` but in `<br/>`), then edges with quoted labels between declared nodes only.
    Returns (labels by node id, [(source, arrow, label, target)])."""

    def check(text: str):
        lines = text.rstrip("\n").split("\n")
        while lines and lines[0].startswith("%% "):
            lines.pop(0)
        assert lines and lines[0] == "graph LR", f"the header is not `graph LR`: {lines[:1]}"
        labels: dict[str, str] = {}
        edges = []
        for line in lines[1:]:
            node = _MERMAID_NODE.match(line)
            if node and not edges:
                node_id, opener, label, closer = node.groups()
                assert _MERMAID_CLOSERS[opener] == closer, line
                assert node_id not in labels, f"{node_id} declared twice"
                assert node_id.lower() not in {"end", "graph", "subgraph", "style"}, line
                assert "<" not in label.replace("<br/>", ""), f"raw < in {line}"
                labels[node_id] = label
                continue
            edge = _MERMAID_EDGE.match(line)
            assert edge, f"neither a node (before the edges) nor an edge: {line!r}"
            source, arrow, label, target = edge.groups()
            assert source in labels and target in labels, f"undeclared node in {line!r}"
            assert "<" not in label, line
            edges.append((source, arrow, label, target))
        assert labels and edges, "no nodes or no edges"
        return labels, edges

    return check


@pytest.fixture
def parse_dot():
    """`parse_dot(text)`: the one pydot graph DOT text parses to (AssertionError if not)."""
    import warnings

    with warnings.catch_warnings():  # pydot's use of pyparsing's old names
        warnings.simplefilter("ignore", DeprecationWarning)
        import pydot

    def parse(text: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            graphs = pydot.graph_from_dot_data(text)
        assert graphs and len(graphs) == 1, f"pydot cannot parse it:\n{text}"
        return graphs[0]

    return parse


@pytest.fixture
def graphviz_dot():
    """`graphviz_dot(text)`: Graphviz's `dot -Tsvg` renders `text` (returns the SVG);
    skips when the `dot` binary is not installed."""
    binary = shutil.which("dot")
    if binary is None:
        pytest.skip("needs Graphviz's `dot` binary on PATH (apt-get install graphviz)")

    def render(text: str) -> str:
        import subprocess

        done = subprocess.run(
            [binary, "-Tsvg"], input=text, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
        return done.stdout

    return render
