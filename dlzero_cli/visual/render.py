"""A `Graph` drawn as text: mermaid (GitHub, editors, the book's reading notes),
Graphviz DOT (`| dot -Tpng > g.png`), or plain lines for a terminal.

Forward arrows run left to right; arrows back (thick in mermaid, bold red in DOT, `==>`
in text) run from a node to the one that fed it, carrying what flows back. Every
label is quoted and escaped, so names and numbers never break the syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dlzero_cli.visual.graphs import Graph, Node

FORMATS = ("mermaid", "dot", "text")

# Words a mermaid flowchart reads as keywords when used as a node id.
_MERMAID_RESERVED = {
    "end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click",
    "linkstyle", "direction", "default", "call", "href",
}  # fmt: skip

_MERMAID_SHAPES = {
    "operation": ('(("', '"))'),  # a circle, as the book draws x and +
    "parameter": ('(["', '"])'),
    "loss": ('[["', '"]]'),
}


def render(graph: Graph, fmt: str) -> str:
    renderers: dict[str, Callable[[Graph], str]] = {
        "mermaid": to_mermaid, "dot": to_dot, "text": to_text,
    }  # fmt: skip
    return renderers[fmt](graph)


def _safe_ids(graph: Graph, allowed: str, reserved: set[str]) -> dict[str, str]:
    """Node id -> an identifier of `allowed` characters, unique, never a keyword."""
    safe: dict[str, str] = {}
    taken: set[str] = set()
    for node in graph.nodes:
        base = re.sub(f"[^{allowed}]", "_", node.id) or "n"
        if not base[0].isalpha():
            base = "n" + base
        candidate, k = base, 1
        while candidate in taken or candidate.lower() in reserved:
            k += 1
            candidate = f"{base}_{k}"
        taken.add(candidate)
        safe[node.id] = candidate
    return safe


def _mermaid_text(text: str) -> str:
    """Text for inside a mermaid "quoted" label: entity codes for # " and < (labels are
    HTML: a < could open a tag; line breaks are the renderer's own <br/>)."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;")


def to_mermaid(graph: Graph) -> str:
    ids = _safe_ids(graph, "A-Za-z0-9_", _MERMAID_RESERVED)
    lines = [f"%% {line}" for line in (graph.title, *graph.notes) if line]
    lines = [line.replace("\n", " ") for line in lines]
    lines.append("graph LR")
    for node in graph.nodes:
        left, right = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
        label = "<br/>".join(_mermaid_text(line) for line in node.lines)
        lines.append(f"  {ids[node.id]}{left}{label}{right}")
    for edge in graph.edges:
        label = _mermaid_text(edge.forward)
        lines.append(f'  {ids[edge.source]} -->|"{label}"| {ids[edge.target]}')
    for edge in reversed(graph.edges):
        if edge.backward is not None:
            label = _mermaid_text(edge.backward)
            lines.append(f'  {ids[edge.target]} ==>|"{label}"| {ids[edge.source]}')
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


_DOT_SHAPES = {
    "operation": "circle",
    "parameter": "ellipse",
    "loss": "box, style=bold",
    "data": "plaintext",
    "input": "plaintext",
    "output": "plaintext",
    "constant": "plaintext",
}


def to_dot(graph: Graph) -> str:
    ids = _safe_ids(graph, "A-Za-z0-9_", {"graph", "digraph", "node", "edge", "subgraph", "strict"})
    lines = [f'digraph "{_dot_text(graph.title)}" {{', "  rankdir=LR;"]
    for note in graph.notes:
        lines.append(f"  // {note}".replace("\n", " "))
    for node in graph.nodes:
        label = "\\n".join(_dot_text(line) for line in node.lines)
        shape = _DOT_SHAPES.get(node.kind, "box")
        lines.append(f'  {ids[node.id]} [label="{label}", shape={shape}];')
    for edge in graph.edges:
        lines.append(
            f'  {ids[edge.source]} -> {ids[edge.target]} [label="{_dot_text(edge.forward)}"];'
        )
    for edge in reversed(graph.edges):
        if edge.backward is not None:
            lines.append(
                f"  {ids[edge.target]} -> {ids[edge.source]} "
                f'[label="{_dot_text(edge.backward)}", style=bold, color="#c0392b", '
                'fontcolor="#c0392b", constraint=false];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _text_names(graph: Graph) -> dict[str, str]:
    """A node's first label line, with its id when that line is not unique."""
    firsts = [node.lines[0] for node in graph.nodes]

    def name(node: Node) -> str:
        first = node.lines[0]
        return first if firsts.count(first) == 1 else f"{first}[{node.id}]"

    return {node.id: name(node) for node in graph.nodes}


def to_text(graph: Graph) -> str:
    names = _text_names(graph)
    lines = [graph.title, "nodes:"]
    for node in graph.nodes:
        detail = f"  ({', '.join(node.lines[1:])})" if len(node.lines) > 1 else ""
        lines.append(f"  {names[node.id]}{detail}")
    lines.append("forward:")
    for edge in graph.edges:
        lines.append(f"  {names[edge.source]} --{edge.forward}--> {names[edge.target]}")
    backward = [edge for edge in reversed(graph.edges) if edge.backward is not None]
    if backward:
        lines.append("backward:")
        for edge in backward:
            lines.append(f"  {names[edge.target]} =={edge.backward}==> {names[edge.source]}")
    lines.extend(graph.notes)
    return "\n".join(lines) + "\n"
