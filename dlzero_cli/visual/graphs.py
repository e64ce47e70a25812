"""Computational graphs as typed data: nodes, and edges that carry a forward label (a
shape, a value) and optionally a backward one (a gradient's shape, its measured norm,
a derivative). `render` draws them; nothing here prints.

A network's graph has one node per layer as the user wrote them (the fused
conv-ReLU-pool step is an engine speed trick and stays hidden), the data X and the
labels t, the parameters W1, b1, ... as input nodes (the book's numbering: the k-th
layer with parameters; gamma/beta for batch norm), and the output-with-loss node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlzero_cli.atomic import write_text
from dlzero_cli.engine.activations import OUTPUTS
from dlzero_cli.engine.expression import ExpressionGraph, evaluate, parse_bindings
from dlzero_cli.errors import UsageError
from dlzero_cli.model import Model
from dlzero_cli.pretrained import book_names
from dlzero_cli.visual.sources import Subject, dataset_samples


@dataclass(frozen=True)
class Node:
    id: str  # unique in its graph; renderers make their own safe identifiers
    lines: tuple[str, ...]  # the label, one entry per line
    kind: str  # data | parameter | layer | loss | output | input | constant | operation


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    forward: str  # what flows forward: "100x50", "200"
    backward: str | None = None  # what flows back, or None when nothing is shown


@dataclass(frozen=True)
class Graph:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    notes: tuple[str, ...] = ()  # how the backward values were measured, and so on
    # Per node id, the measured norm of dL/d(node's output) (a RUN with --backward).
    gradient_norms: dict[str, float] = field(default_factory=dict)


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def number(value: float) -> str:
    """6 significant digits: the book's 220, 1.1, 2.2 and 110 come out as written."""
    return f"{value:.6g}"


# --------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class GradientNorms:
    """One training-mode forward and backward pass on real samples."""

    loss: float
    outputs: tuple[float, ...]  # per layer: ||dL/d(its output)|| over the batch
    params: dict[str, float]  # per parameter ("0.W"): ||dL/dW||
    origin: str  # which samples


def measure_gradients(
    model: Model, x_raw: np.ndarray, labels: np.ndarray, origin: str
) -> GradientNorms:
    """Forward and backward through the layers one by one (the values of the fused
    steps the network normally runs), in training mode as a training step runs them:
    dropout draws masks from its seeded generator, batch norm uses the batch's
    statistics. Only this in-memory model changes (batch norm's running moments), never
    a weight file."""
    network = model.network
    network.train()
    x = model.prepare(x_raw)
    for layer in network.layers:
        x = layer.forward(x)
    criterion = model.criterion()
    loss = criterion.forward(x, labels)
    dout = criterion.backward()
    norms = [0.0] * len(network.layers)
    for index in reversed(range(len(network.layers))):
        norms[index] = float(np.linalg.norm(dout))
        dout = network.layers[index].backward(dout)
    params = {name: float(np.linalg.norm(grad)) for name, grad in network.named_grads().items()}
    network.eval()
    return GradientNorms(float(loss), tuple(norms), params, origin)


def loss_name(model: Model) -> str:
    """Softmax-with-Loss, Sigmoid-with-Loss, Identity-with-Loss: the book's name."""
    return f"{OUTPUTS.get(model.output).graph_name()}-with-Loss"


def network_graph(
    model: Model,
    title: str,
    batch: int,
    backward: bool = False,
    measured: GradientNorms | None = None,
) -> Graph:
    """The graph of `model` for a batch of `batch` samples; with `backward`, arrows back
    carry the gradient's shape and, given `measured`, its norm."""
    network = model.network
    params = book_names(network)
    nodes = [Node("X", ("X", shape_text((batch, *model.input_shape))), "data")]
    edges: list[Edge] = []
    norms: dict[str, float] = {}

    def back(shape: tuple[int, ...], norm: float | None) -> str | None:
        if not backward:
            return None
        text = shape_text(shape)
        return text if norm is None else f"{text}, norm {norm:.3g}"

    source, shape = "X", (batch, *model.input_shape)
    counts: dict[str, int] = {}
    for index, layer in enumerate(network.layers):
        name = layer.graph_name()
        counts[name] = counts.get(name, 0) + 1
        out_shape = (batch, *layer.output_shape(shape[1:]))
        node_id = f"L{index}"
        io = f"{shape_text(shape)} -> {shape_text(out_shape)}"
        nodes.append(Node(node_id, (f"{name}{counts[name]}", io), "layer"))
        # dL/dX is never computed (no parameter needs it): no arrow back into X.
        incoming_norm = measured.outputs[index - 1] if measured and index else None
        edges.append(
            Edge(source, node_id, shape_text(shape), back(shape, incoming_norm) if index else None)
        )
        for key, array in layer.params.items():
            full = f"{index}.{key}"
            param_id = f"P{index}{key}"
            nodes.append(Node(param_id, (params[full],), "parameter"))
            norm = measured.params[full] if measured else None
            edges.append(Edge(param_id, node_id, shape_text(array.shape), back(array.shape, norm)))
        if measured:
            norms[node_id] = measured.outputs[index]
        source, shape = node_id, out_shape
    nodes.append(Node("T", ("t", shape_text((batch,))), "data"))
    nodes.append(Node("LOSS", (loss_name(model), model.loss), "loss"))
    nodes.append(Node("L", ("L",), "output"))
    last_norm = measured.outputs[-1] if measured else None
    edges.append(Edge(source, "LOSS", shape_text(shape), back(shape, last_norm)))
    edges.append(Edge("T", "LOSS", shape_text((batch,))))
    loss_value = f"loss {measured.loss:.4g}" if measured else "scalar"
    edges.append(Edge("LOSS", "L", loss_value, "1" if backward else None))
    notes = []
    if measured:
        norms["LOSS"] = 1.0
        notes.append(
            f"backward: the norm of dL/d(each node's output), measured on {measured.origin} "
            "in training mode (dropout masks drawn, batch norm on the batch's statistics); "
            f"loss {measured.loss:.4g}"
        )
    elif backward:
        notes.append("backward: gradient shapes (give a RUN to see measured norms)")
    return Graph(title, tuple(nodes), tuple(edges), tuple(notes), norms)


# --------------------------------------------------------------------------- expressions


def expression_graph(result: ExpressionGraph) -> Graph:
    """An expression's graph: values forward, derivatives of the result back."""
    nodes = tuple(Node(node.id, (node.label,), node.kind) for node in result.nodes)
    edges = tuple(
        Edge(e.source, e.target, number(e.value), None if e.grad is None else number(e.grad))
        for e in result.edges
    )
    output = result.nodes[-1].label
    derivatives = ", ".join(
        f"d{output}/d{name} = {number(value)}" for name, value in result.derivatives.items()
    )
    notes = (f"{output} = {number(result.result)}" + (f"; {derivatives}" if derivatives else ""),)
    return Graph(result.text, nodes, edges, notes)


# --------------------------------------------------------------------------- entry points


def subject_graph(
    subject: Subject, samples: int, backward: bool, data_dir: Path | None = None
) -> Graph:
    """The graph of a CONFIG's or a RUN's network for a batch of `samples`; with
    `backward` for a RUN, gradient norms measured on `samples` samples of its data."""
    if samples < 1:
        raise UsageError(f"--samples {samples}: give at least 1")
    model = subject.model
    title = f"{subject.name}: {model.dataset}, batch {samples}"
    measured = None
    if backward and subject.trained:
        data = dataset_samples(subject, samples, data_dir)
        samples = len(data.y)  # a split smaller than asked for
        measured = measure_gradients(model, data.x, data.y, data.origin)
    return network_graph(model, title, samples, backward, measured)


def graph_of_expression(text: str, at: str) -> Graph:
    """`--expr TEXT --at name=value,...` as a graph."""
    return expression_graph(evaluate(text, parse_bindings(at)))


def save_text(path: Path, text: str) -> None:
    """`--out FILE`: written atomically; a one-line UsageError when it cannot be."""
    try:
        write_text(path, text)
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write ({exc.strerror or exc})") from None
