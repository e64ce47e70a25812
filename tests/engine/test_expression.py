"""Expression graphs: the book's numbers, every operation's backward against central
differences, and a one-line error for everything outside the grammar."""

from __future__ import annotations

import pytest

from dlzero_cli.engine.expression import evaluate, parse_bindings
from dlzero_cli.errors import UsageError


def test_the_apple_example_gives_the_books_numbers():
    graph = evaluate("price = apple * count * tax", parse_bindings("apple=100,count=2,tax=1.1"))
    assert graph.result == pytest.approx(220)
    assert graph.derivatives == pytest.approx({"apple": 2.2, "count": 110, "tax": 200})
    edges = {(e.source, e.target): e for e in graph.edges}
    assert edges[("mul1", "mul2")].value == 200
    assert edges[("mul1", "mul2")].grad == pytest.approx(1.1)  # from price back to x1
    assert edges[("mul2", "out")].grad == 1
    assert [n.label for n in graph.nodes if n.kind == "output"] == ["price"]


def test_the_chain_rule_example():
    graph = evaluate("(x + y) ** 2", parse_bindings("x=1,y=2"))
    assert graph.result == 9
    assert graph.derivatives == {"x": 6, "y": 6}
    # The constant 2 carries its value forward and nothing back.
    [constant] = [e for e in graph.edges if e.source.startswith("c")]
    assert constant.value == 2 and constant.grad is None


def test_a_name_used_twice_sums_its_paths():
    graph = evaluate("x * x + x", {"x": 3.0})
    assert graph.result == 12 and graph.derivatives == {"x": 7}
    assert len([e for e in graph.edges if e.source == "x"]) == 3


@pytest.mark.parametrize(
    "text",
    [
        "a + b", "a - b", "a * b", "a / b", "a ** b", "-a * b", "+a - b", "exp(a) * b",
        "log(a) / b", "sigmoid(a * b)", "relu(a - b)", "relu(b - a) + a", "2 ** a / b",
        "log(sigmoid(a) + exp(-b)) ** 3",
    ],
)  # fmt: skip
def test_backward_matches_central_differences(text):
    at = {"a": 1.3, "b": 0.7}
    graph = evaluate(text, at)
    for name in at:
        h = 1e-6
        plus = evaluate(text, {**at, name: at[name] + h}).result
        minus = evaluate(text, {**at, name: at[name] - h}).result
        assert graph.derivatives[name] == pytest.approx((plus - minus) / (2 * h), abs=1e-6)


def test_relu_passes_nothing_back_at_or_below_zero():
    assert evaluate("relu(x)", {"x": 0.0}).derivatives == {"x": 0}
    assert evaluate("relu(x)", {"x": -2.0}).derivatives == {"x": 0}


def test_sigmoid_stays_finite_far_out():
    assert evaluate("sigmoid(x)", {"x": -1000.0}).result == 0
    assert evaluate("sigmoid(x)", {"x": 1000.0}).result == 1


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        ("apple * kount", "apple=1", "unknown name 'kount'"),
        ("x.real", "x=1", "an attribute is not allowed"),
        ("x[0]", "x=1", "a subscript is not allowed"),
        ("x < 1", "x=1", "a comparison is not allowed"),
        ("x and 1", "x=1", "and/or is not allowed"),
        ("print(x)", "x=1", "cannot call print"),
        ("__import__('os').system('true')", "", "cannot call"),
        ("x.exp(1)", "x=1", "cannot call an attribute"),
        ("exp(x, x)", "x=1", "exp takes exactly one argument"),
        ("exp", "", "exp is a function"),
        ("'a' * 2", "", "'a' is not a number"),
        ("log(x)", "x=0", "log of a non-positive number"),
        ("log(x)", "x=-1", "log of a non-positive number"),
        ("x / (y - 1)", "x=1,y=1", "division by zero"),
        ("x ** -1", "x=0", "division by zero"),
        ("exp(x)", "x=1000", "overflows"),
        ("x * 1e300 * 1e10", "x=1", "too large"),
        ("1 / x", "x=1e-200", "a derivative through / is too large"),
        ("x ** 0.5", "x=0", "is infinite at 0"),
        ("x ** y", "x=-2,y=2", "needs a > 0"),
        ("x ** 0.5", "x=-2", "not a real number"),
        ("x +", "x=1", "not valid syntax"),
        ("x = 1; y = 2", "", "give one expression"),
        ("", "", "empty"),
        ("x", "x=1,x=2", "x is given twice"),
        ("x", "x=1,y=2", "does not use y"),
        ("x", "x", "is not name=value"),
        ("x", "x=abc", "is not a number"),
        ("x", "x=nan", "is not a finite number"),
        ("x", "exp=1", "cannot be a name"),
        ("z = x", "x=1,z=2", "z is the result"),
    ],
)
def test_problems_are_one_line_errors(text, at, message):
    with pytest.raises(UsageError) as caught:
        evaluate(text, parse_bindings(at))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_nothing_is_evaluated(monkeypatch):
    """The text never reaches eval or exec: a call of anything but the four functions
    is refused before any operation runs."""
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert evaluate("exp(log(x))", {"x": 2.0}).result == pytest.approx(2)
    with pytest.raises(UsageError, match="cannot call"):
        evaluate("open('/etc/passwd')", {})


def _smooth_expressions():
    """Random expressions of a and b over the smooth part of the grammar (no kinks,
    no domain errors): what the backward pass must differentiate exactly."""
    from hypothesis import strategies as st

    leaves = st.sampled_from(["a", "b", "0.5", "2", "(-1.5)"])

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"sigmoid({e})"),
            inner.map(lambda e: f"(-{e})"),
            inner.map(lambda e: f"log(1 + {e} * {e})"),
            inner.map(lambda e: f"({e} / (1 + {e} ** 2))"),
            inner.map(lambda e: f"exp(sigmoid({e}))"),
        )

    return st.recursive(leaves, extend, max_leaves=8)


def test_random_expressions_match_central_differences():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.floats(-2, 2, allow_nan=False)

    @settings(max_examples=80, deadline=None)
    @given(_smooth_expressions(), values, values)
    def check(body, a, b):
        text = f"{body} + 0 * (a + b)"  # every name used, as --at requires
        at = {"a": a, "b": b}
        graph = evaluate(text, at)
        for name in at:
            h = 1e-5
            plus = evaluate(text, {**at, name: at[name] + h}).result
            minus = evaluate(text, {**at, name: at[name] - h}).result
            numeric = (plus - minus) / (2 * h)
            assert graph.derivatives[name] == pytest.approx(numeric, rel=1e-5, abs=1e-6), text

    check()
