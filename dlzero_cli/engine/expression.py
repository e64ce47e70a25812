"""Arithmetic expressions as computational graphs, the book's chapter 5 generalised.

One node class per operation, each with `forward` (the value from its inputs' values,
keeping what the way back needs) and `backward` (dL/d each input from dL/d its output)
side by side, as the book's MulLayer and AddLayer. `evaluate(text, bindings)` parses
the text with Python's `ast` module, accepts only this grammar and nothing else:

    numbers, names given a value, + - * / **, unary minus and plus, parentheses,
    exp(e), log(e), sigmoid(e), relu(e)

then runs one forward pass (a value on every edge) and one backward pass (the
derivative of the result with respect to every edge's value, and so to every input).
Nothing is evaluated by `eval`: the tree is walked over an allow-list of node types.
Every problem is one UsageError line.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import ClassVar

from dlzero_cli.errors import UsageError

MAX_LENGTH = 1000  # characters; a longer "expression" is not something to draw


class Operation:
    """One node of the graph: `forward(*inputs) -> value`, `backward(dout) -> dinputs`."""

    symbol: ClassVar[str] = ""  # what the graph shows inside the node
    arity: ClassVar[int] = 2

    def forward(self, *inputs: float) -> float:
        raise NotImplementedError

    def backward(self, dout: float) -> tuple[float, ...]:
        raise NotImplementedError


class Add(Operation):
    """z = a + b; dz/da = dz/db = 1: the derivative passes through unchanged."""

    symbol = "+"

    def forward(self, a: float, b: float) -> float:
        return a + b

    def backward(self, dout: float) -> tuple[float, float]:
        return dout, dout


class Sub(Operation):
    """z = a - b; dz/da = 1, dz/db = -1."""

    symbol = "-"

    def forward(self, a: float, b: float) -> float:
        return a - b

    def backward(self, dout: float) -> tuple[float, float]:
        return dout, -dout


class Mul(Operation):
    """z = a b; the derivatives swap the inputs: dz/da = b, dz/db = a (the book's MulLayer)."""

    symbol = "x"

    def forward(self, a: float, b: float) -> float:
        self.a, self.b = a, b
        return a * b

    def backward(self, dout: float) -> tuple[float, float]:
        return dout * self.b, dout * self.a


class Div(Operation):
    """z = a / b; dz/da = 1/b, dz/db = -a/b^2."""

    symbol = "/"

    def forward(self, a: float, b: float) -> float:
        if b == 0:
            raise UsageError(f"division by zero: {a:.6g} / 0")
        self.a, self.b = a, b
        return a / b

    def backward(self, dout: float) -> tuple[float, float]:
        return dout / self.b, -dout * self.a / (self.b * self.b)


class Pow(Operation):
    """z = a ** b; dz/da = b a^(b-1), dz/db = a^b log(a) (needs a > 0 unless b is fixed)."""

    symbol = "**"

    def __init__(self, exponent_varies: bool = True) -> None:
        self.exponent_varies = exponent_varies

    def forward(self, a: float, b: float) -> float:
        if a == 0 and b < 0:
            raise UsageError(f"division by zero: 0 ** {b:.6g}")
        if a == 0 and 0 < b < 1:
            raise UsageError(f"0 ** {b:.6g}: its derivative b * a ** (b - 1) is infinite at 0")
        if a < 0 and not float(b).is_integer():
            raise UsageError(f"{a:.6g} ** {b:.6g} is not a real number (negative base)")
        if a <= 0 and self.exponent_varies:
            raise UsageError(
                f"the derivative of a ** b with respect to b is a ** b * log(a), which needs "
                f"a > 0, but a is {a:.6g}"
            )
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, dout: float) -> tuple[float, float]:
        a, b = self.a, self.b
        da = dout * b * a ** (b - 1) if b != 0 else 0.0
        db = dout * self.out * math.log(a) if self.exponent_varies else 0.0
        return da, db


class Neg(Operation):
    """z = -a; dz/da = -1."""

    symbol = "neg"
    arity = 1

    def forward(self, a: float) -> float:
        return -a

    def backward(self, dout: float) -> tuple[float]:
        return (-dout,)


class Exp(Operation):
    """z = exp(a); dz/da = exp(a) = z."""

    symbol = "exp"
    arity = 1

    def forward(self, a: float) -> float:
        self.out = math.exp(a)
        return self.out

    def backward(self, dout: float) -> tuple[float]:
        return (dout * self.out,)


class Log(Operation):
    """z = log(a), the natural logarithm; dz/da = 1/a."""

    symbol = "log"
    arity = 1

    def forward(self, a: float) -> float:
        if a <= 0:
            raise UsageError(f"log of a non-positive number: log({a:.6g}); log needs a > 0")
        self.a = a
        return math.log(a)

    def backward(self, dout: float) -> tuple[float]:
        return (dout / self.a,)


class Sigmoid(Operation):
    """z = 1 / (1 + exp(-a)); dz/da = z (1 - z) (the book's Sigmoid layer)."""

    symbol = "sigmoid"
    arity = 1

    def forward(self, a: float) -> float:
        # Two forms, so that exp never overflows for large |a|.
        self.out = 1 / (1 + math.exp(-a)) if a >= 0 else math.exp(a) / (1 + math.exp(a))
        return self.out

    def backward(self, dout: float) -> tuple[float]:
        return (dout * self.out * (1 - self.out),)


class Relu(Operation):
    """z = max(0, a); dz/da = 1 where a > 0, else 0 (0 at a = 0 too, as the book's ReLU)."""

    symbol = "relu"
    arity = 1

    def forward(self, a: float) -> float:
        self.positive = a > 0
        return a if self.positive else 0.0

    def backward(self, dout: float) -> tuple[float]:
        return (dout if self.positive else 0.0,)


BINARY: dict[type[ast.operator], type[Operation]] = {
    ast.Add: Add, ast.Sub: Sub, ast.Mult: Mul, ast.Div: Div, ast.Pow: Pow,
}  # fmt: skip
FUNCTIONS: dict[str, type[Operation]] = {cls.symbol: cls for cls in (Exp, Log, Sigmoid, Relu)}
GRAMMAR = (
    "numbers, names given a value, + - * / **, unary minus, parentheses and "
    f"{', '.join(FUNCTIONS)} of one argument"
)


# --------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class ExprNode:
    """A node: an input (a name), a constant, an operation, or the result."""

    id: str
    kind: str  # "input" | "constant" | "operation" | "output"
    label: str  # the name, the number, the operation's symbol, or the expression's name


@dataclass(frozen=True)
class ExprEdge:
    """A value flowing from `source` to `target`: `value` forward, and `grad`, the
    derivative of the result with respect to this value, back (None for constants)."""

    source: str
    target: str
    value: float
    grad: float | None


@dataclass(frozen=True)
class ExpressionGraph:
    text: str
    result: float
    nodes: tuple[ExprNode, ...]
    edges: tuple[ExprEdge, ...]
    derivatives: dict[str, float]  # d result / d input, per name in the order given


@dataclass
class _Built:
    node: str  # the id of the node whose output is this subexpression's value
    value: float
    varies: bool  # depends on an input (a constant has no derivative to show)


class _Builder:
    """Walks the parsed tree over the allow-list, running each operation forward as it
    is built; the backward pass then runs the operations in reverse order."""

    def __init__(self, text: str, bindings: dict[str, float]) -> None:
        self.text, self.bindings = text, bindings
        self.nodes: list[ExprNode] = []
        self.steps: list[tuple[str, Operation, list[_Built]]] = []  # in forward order
        self.used: set[str] = set()
        self.counts: dict[str, int] = {}

    def fail(self, node: ast.AST, what: str) -> UsageError:
        column = getattr(node, "col_offset", None)
        where = f" at column {column + 1}" if column is not None else ""
        return UsageError(f"expression {self.text!r}{where}: {what}")

    def new_node(self, kind: str, label: str, prefix: str) -> str:
        """A node with a fresh id, `prefix` and a number (never one of the input names)."""
        node_id = ""
        while not node_id or node_id in self.bindings:
            self.counts[prefix] = self.counts.get(prefix, 0) + 1
            node_id = f"{prefix}{self.counts[prefix]}"
        self.nodes.append(ExprNode(node_id, kind, label))
        return node_id

    def build(self, node: ast.AST) -> _Built:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self.fail(node, f"{node.value!r} is not a number; allowed: {GRAMMAR}")
            value = float(node.value)
            return _Built(self.new_node("constant", f"{value:.6g}", "c"), value, False)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            left, right = self.build(node.left), self.build(node.right)
            cls = BINARY[type(node.op)]
            op = cls(right.varies) if cls is Pow else cls()
            return self.apply(node, op, [left, right])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.apply(node, Neg(), [self.build(node.operand)])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"{_what(node)} is not allowed; allowed: {GRAMMAR}")

    def name(self, node: ast.Name) -> _Built:
        if node.id not in self.bindings:
            if node.id in FUNCTIONS:
                raise self.fail(node, f"{node.id} is a function: write {node.id}(...)")
            given = ", ".join(self.bindings) or "none"
            raise self.fail(
                node,
                f"unknown name {node.id!r}; give it a value ({node.id}=...) (names given: {given})",
            )
        if node.id not in self.used:
            self.used.add(node.id)
            self.nodes.append(ExprNode(node.id, "input", node.id))
        return _Built(node.id, self.bindings[node.id], True)

    def call(self, node: ast.Call) -> _Built:
        function = node.func.id if isinstance(node.func, ast.Name) else None
        if function not in FUNCTIONS:
            shown = function or _what(node.func)
            raise self.fail(node, f"cannot call {shown}; the functions are {', '.join(FUNCTIONS)}")
        if len(node.args) != 1 or node.keywords:
            raise self.fail(node, f"{function} takes exactly one argument")
        return self.apply(node, FUNCTIONS[function](), [self.build(node.args[0])])

    def apply(self, node: ast.AST, op: Operation, inputs: list[_Built]) -> _Built:
        try:
            value = op.forward(*(b.value for b in inputs))
        except UsageError as exc:
            raise self.fail(node, str(exc)) from None
        except OverflowError:
            raise self.fail(node, f"{op.symbol} overflows: the value is too large") from None
        if not math.isfinite(value):
            raise self.fail(node, f"{op.symbol} gives {value}: the value is too large")
        prefix = type(op).__name__.lower()
        node_id = self.new_node("operation", op.symbol, prefix)
        self.steps.append((node_id, op, inputs))
        return _Built(node_id, value, any(b.varies for b in inputs))


def _what(node: ast.AST) -> str:
    names = {
        ast.Attribute: "an attribute", ast.Subscript: "a subscript",
        ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.Lambda: "a lambda",
        ast.IfExp: "if/else", ast.Tuple: "a tuple", ast.List: "a list",
        ast.Dict: "a dict", ast.Set: "a set", ast.Starred: "a starred expression",
        ast.JoinedStr: "an f-string", ast.NamedExpr: "an assignment (:=)",
        ast.Await: "await", ast.Yield: "yield", ast.ListComp: "a comprehension",
        ast.GeneratorExp: "a generator", ast.Slice: "a slice",
    }  # fmt: skip
    if isinstance(node, ast.BinOp):
        return f"the operator {type(node.op).__name__}"
    if isinstance(node, ast.UnaryOp):
        return f"the operator {type(node.op).__name__}"
    return names.get(type(node), type(node).__name__)


def parse(text: str) -> tuple[str | None, ast.expr]:
    """The expression's tree and the name it is given (`price = apple * count`), or a
    one-line UsageError."""
    if len(text) > MAX_LENGTH:
        raise UsageError(f"the expression has {len(text)} characters; at most {MAX_LENGTH}")
    if not text.strip():
        raise UsageError("the expression is empty; e.g. --expr 'apple * count * tax'")
    try:
        module = ast.parse(text.strip(), mode="exec")
    except SyntaxError as exc:
        column = f" at column {exc.offset}" if exc.offset else ""
        raise UsageError(f"expression {text!r}{column}: not valid syntax ({exc.msg})") from None
    statements = module.body
    if len(statements) == 1 and isinstance(statements[0], ast.Expr):
        return None, statements[0].value
    if (
        len(statements) == 1
        and isinstance(statements[0], ast.Assign)
        and len(statements[0].targets) == 1
        and isinstance(statements[0].targets[0], ast.Name)
    ):
        return statements[0].targets[0].id, statements[0].value
    raise UsageError(
        f"expression {text!r}: give one expression, optionally named (price = apple * count)"
    )


def evaluate(text: str, bindings: dict[str, float]) -> ExpressionGraph:
    """The graph of `text` with `bindings` as its inputs: forward values on every edge,
    then one backward pass from d result / d result = 1. The result is named as the
    text names it (`price = ...`), else z."""
    result_name, tree = parse(text)
    if result_name in bindings:
        raise UsageError(f"expression {text!r}: {result_name} is the result; it cannot be given")
    builder = _Builder(text, bindings)
    top = builder.build(tree)
    unused = [name for name in bindings if name not in builder.used]
    if unused:
        raise UsageError(
            f"expression {text!r} does not use {', '.join(unused)}; give values only to "
            "names it uses"
        )
    # The backward pass: each operation in reverse order hands its inputs their share.
    grad_of: dict[str, float] = {top.node: 1.0}
    edge_grads: dict[tuple[str, str, int], float] = {}
    for node_id, op, inputs in reversed(builder.steps):
        try:
            dinputs = op.backward(grad_of.get(node_id, 0.0))
        except (OverflowError, ZeroDivisionError):
            dinputs = (math.inf,) * len(inputs)
        if not all(math.isfinite(d) for d in dinputs):
            raise UsageError(
                f"expression {text!r}: a derivative through {op.symbol} is too large for a "
                "float; try smaller values"
            )
        for position, (built, dinput) in enumerate(zip(inputs, dinputs, strict=True)):
            edge_grads[(built.node, node_id, position)] = dinput
            grad_of[built.node] = grad_of.get(built.node, 0.0) + dinput
    nodes = list(builder.nodes)
    output = ExprNode("out_" if "out" in bindings else "out", "output", result_name or "z")
    edges = []
    for node_id, _op, inputs in builder.steps:
        for position, built in enumerate(inputs):
            grad = edge_grads[(built.node, node_id, position)] if built.varies else None
            edges.append(ExprEdge(built.node, node_id, built.value, grad))
    edges.append(ExprEdge(top.node, output.id, top.value, 1.0 if top.varies else None))
    nodes.append(output)
    derivatives = {name: grad_of.get(name, 0.0) for name in bindings}
    return ExpressionGraph(text.strip(), top.value, tuple(nodes), tuple(edges), derivatives)


def parse_bindings(text: str) -> dict[str, float]:
    """`apple=100,count=2,tax=1.1` -> {"apple": 100.0, ...}; one-line UsageErrors for
    a pair without `=`, a name that is not an identifier, a value that is not a finite
    number, or a name given twice."""
    bindings: dict[str, float] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        name, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not name:
            raise UsageError(f"--at {text!r}: {pair!r} is not name=value (e.g. x=1.5)")
        if not name.isidentifier() or name in FUNCTIONS:
            raise UsageError(f"--at {text!r}: {name!r} cannot be a name (letters, digits, _)")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--at {text!r}: {name}={value!r} is not a number") from None
        if not math.isfinite(number):
            raise UsageError(f"--at {text!r}: {name}={value} is not a finite number")
        if name in bindings:
            raise UsageError(f"--at {text!r}: {name} is given twice; give each name once")
        bindings[name] = number
    return bindings
