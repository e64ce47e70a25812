"""Computational graphs: what the nodes and edges say, and that mermaid and DOT output
parse with real parsers (mermaid's own under node, pydot, Graphviz's dot)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.engine.layers import LAYERS
from dlzero_cli.visual.graphs import graph_of_expression, number, subject_graph
from dlzero_cli.visual.render import render
from dlzero_cli.visual.sources import open_subject

APPLE = ("price = apple * count * tax", "apple=100,count=2,tax=1.1")


@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory, cli_in) -> Path:
    """A digits run trained once for this module (20 epochs, about a second)."""
    runs = tmp_path_factory.mktemp("runs")
    result = cli_in(runs)("train", "--quiet", "--epochs", "20")
    assert result.exit_code == 0, result.stderr
    [run] = runs.iterdir()
    return run


def config_graph(name: str, backward: bool = False):
    return subject_graph(open_subject(name, Path("no-runs-here")), 100, backward)


def test_the_apple_graph_in_mermaid_has_the_books_numbers(mermaid_structure):
    labels, edges = mermaid_structure(render(graph_of_expression(*APPLE), "mermaid"))
    assert labels == {
        "apple": "apple", "count": "count", "tax": "tax", "mul1": "x", "mul2": "x",
        "out": "price",
    }  # fmt: skip
    forward = {(s, label, t) for s, arrow, label, t in edges if arrow == "-->"}
    back = {(s, label, t) for s, arrow, label, t in edges if arrow == "==>"}
    assert forward == {
        ("apple", "100", "mul1"), ("count", "2", "mul1"), ("mul1", "200", "mul2"),
        ("tax", "1.1", "mul2"), ("mul2", "220", "out"),
    }  # fmt: skip
    assert back == {
        ("out", "1", "mul2"), ("mul2", "1.1", "mul1"), ("mul1", "2.2", "apple"),
        ("mul1", "110", "count"), ("mul2", "200", "tax"),
    }  # fmt: skip


def test_numbers_print_as_the_book_writes_them():
    assert number(100 * 2 * 1.1) == "220" and 100 * 2 * 1.1 != 220  # float noise hidden
    assert number(110.00000000000001) == "110"
    assert number(1.1) == "1.1" and number(2.5e-7) == "2.5e-07"


def test_the_digits_network_one_node_per_layer(mermaid_structure):
    labels, edges = mermaid_structure(render(config_graph("digits-64-50-100-10"), "mermaid"))
    names = [label.split("<br/>")[0] for label in labels.values()]
    assert names == [
        "X", "Affine1", "W1", "b1", "Sigmoid1", "Affine2", "W2", "b2", "Sigmoid2", "Affine3",
        "W3", "b3", "t", "Softmax-with-Loss", "L",
    ]  # fmt: skip
    assert labels["L0"] == "Affine1<br/>100x1x8x8 -> 100x50"
    forward = {(s, label, t) for s, arrow, label, t in edges if arrow == "-->"}
    assert ("L0", "100x50", "L1") in forward and ("P0W", "64x50", "L0") in forward
    assert ("L4", "100x10", "LOSS") in forward and ("T", "100", "LOSS") in forward
    assert not [e for e in edges if e[1] == "==>"]  # no arrows back without --backward


def test_the_convnet_shows_the_users_layers_not_the_fused_step(mermaid_structure):
    labels, _ = mermaid_structure(render(config_graph("simple-convnet-mnist"), "mermaid"))
    names = [label.split("<br/>")[0] for label in labels.values()]
    assert names[:7] == ["X", "Convolution1", "W1", "b1", "ReLU1", "Pooling1", "Affine1"]
    assert labels["L0"] == "Convolution1<br/>100x1x28x28 -> 100x30x24x24"
    assert labels["L2"] == "Pooling1<br/>100x30x24x24 -> 100x30x12x12"


def test_backward_on_a_config_shows_gradient_shapes(mermaid_structure):
    _, edges = mermaid_structure(render(config_graph("digits-64-50-100-10", True), "mermaid"))
    back = {(s, label, t) for s, arrow, label, t in edges if arrow == "==>"}
    assert ("LOSS", "100x10", "L4") in back and ("L0", "64x50", "P0W") in back
    assert ("L", "1", "LOSS") in back


def test_backward_on_a_trained_run_measures_finite_norms(trained_digits, mermaid_structure):
    graph = subject_graph(open_subject(str(trained_digits), trained_digits.parent), 100, True)
    norms = graph.gradient_norms
    assert set(norms) == {"L0", "L1", "L2", "L3", "L4", "LOSS"}
    assert all(math.isfinite(v) and v > 0 for v in norms.values())
    # A sigmoid's derivative is at most 1/4: the gradient shrinks through it.
    assert norms["L0"] <= norms["L1"] / 4 and norms["L2"] <= norms["L3"] / 4
    _, edges = mermaid_structure(render(graph, "mermaid"))
    back = {(s, t): label for s, arrow, label, t in edges if arrow == "==>"}
    assert back[("L2", "L1")] == f"100x50, norm {norms['L1']:.3g}"
    assert any("val split" in note for note in graph.notes)


def test_every_layer_kind_has_a_graph_name():
    names = {kind: LAYERS.get(kind).graph_name() for kind in LAYERS.names()}
    assert names["conv"] == "Convolution" and names["maxpool"] == names["avgpool"] == "Pooling"
    assert names["dense"] == "Affine" and names["batchnorm"] == "BatchNorm"
    assert all(name and name[0].isupper() for name in names.values())


@pytest.mark.parametrize("which", ["digits-64-50-100-10", "simple-convnet-mnist", "apple"])
def test_dot_parses_with_pydot(which, parse_dot):
    graph = graph_of_expression(*APPLE) if which == "apple" else config_graph(which, True)
    parsed = parse_dot(render(graph, "dot"))
    assert parsed.get_type() == "digraph"
    assert len(parsed.get_nodes()) == len(graph.nodes)
    backward = sum(edge.backward is not None for edge in graph.edges)
    assert len(parsed.get_edges()) == len(graph.edges) + backward
    declared = {node.get_name() for node in parsed.get_nodes()}
    for edge in parsed.get_edges():
        assert edge.get_source() in declared and edge.get_destination() in declared


def test_dot_renders_with_graphviz(graphviz_dot, trained_digits):
    for graph in (
        graph_of_expression(*APPLE),
        config_graph("simple-convnet-mnist", True),
        subject_graph(open_subject(str(trained_digits), trained_digits.parent), 50, True),
    ):
        assert "<svg" in graphviz_dot(render(graph, "dot"))


@pytest.mark.slow
def test_mermaids_own_parser_reads_every_graph(parse_mermaid, trained_digits):
    """One parse per graph kind: an expression, an MLP, a CNN, a run with norms."""
    graphs = [
        graph_of_expression(*APPLE),
        graph_of_expression("z = log(sigmoid(x) + exp(-y)) ** 2 / relu(x)", "x=1,y=2"),
        config_graph("digits-64-50-100-10"),
        config_graph("simple-convnet-mnist", True),
        subject_graph(open_subject(str(trained_digits), trained_digits.parent), 100, True),
    ]
    for graph in graphs:
        assert parse_mermaid(render(graph, "mermaid")) == "flowchart-v2"


def test_mermaids_parser_is_strict_enough_to_fail(parse_mermaid):
    with pytest.raises(AssertionError, match="cannot parse"):
        parse_mermaid('graph LR\n  a["x" -->|"1"| b\n')


def test_labels_are_escaped(mermaid_structure, parse_dot):
    from dlzero_cli.visual.graphs import Edge, Graph, Node

    tricky = 'say "hi" <b> #1 \\ end'
    graph = Graph(
        tricky, (Node("end", (tricky,), "layer"), Node("a b", ("x",), "operation")),
        (Edge("end", "a b", tricky, tricky),),
    )  # fmt: skip
    labels, edges = mermaid_structure(render(graph, "mermaid"))
    assert "end" not in labels and len(labels) == 2
    parsed = parse_dot(render(graph, "dot"))
    [node] = [n for n in parsed.get_nodes() if n.get("shape") == "box"]
    assert node.get("label") == '"say \\"hi\\" <b> #1 \\\\ end"'
    assert {label for _, _, label, _ in edges} == {"say #quot;hi#quot; #lt;b> #35;1 \\ end"}


def test_measured_norms_through_the_users_layers_match_the_fused_backward():
    """The graph runs the layers one by one; training runs the fused conv-ReLU-pool step.
    The parameter gradients must be the same either way."""
    from dlzero_cli.visual.graphs import measure_gradients

    model = open_subject("simple-convnet-mnist", Path("no-runs")).model
    rng = np.random.default_rng(0)
    x, labels = rng.uniform(0, 255, (4, 1, 28, 28)), rng.integers(0, 10, 4)
    measured = measure_gradients(model, x, labels, "4 random images")
    assert all(math.isfinite(v) for v in (*measured.outputs, *measured.params.values()))
    network = model.network
    network.train()
    criterion = model.criterion()
    criterion.forward(network.forward(model.prepare(x)), labels)
    network.backward(criterion.backward())
    for name, grad in network.named_grads().items():
        assert measured.params[name] == pytest.approx(float(np.linalg.norm(grad)), rel=1e-4)
