"""errors.describe_exception: the one way another library's exception becomes the
reason in an error line (pretrained pickles, images, downloads, click's messages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dlzero_cli
from dlzero_cli.errors import MAX_REASON_CHARS, describe_exception


@pytest.mark.parametrize(
    "exc, expected",
    [
        (OSError("cannot identify image file <_io.BytesIO object at 0x7f3a9c1d2e50>"),
         "cannot identify image file"),
        (ValueError("broken\n   across\tlines "), "broken across lines"),
        (ValueError("keeps <angle brackets> and a <tag at 0xZZ>"),
         "keeps <angle brackets> and a <tag at 0xZZ>"),
        (EOFError("Ran out of input"), "the file ends too soon"),
        (ValueError(""), "ValueError"),
        (TimeoutError(), "TimeoutError"),
    ],
)  # fmt: skip
def test_an_exception_is_one_short_line(exc, expected):
    assert describe_exception(exc) == expected


def test_an_empty_message_may_say_something_else_and_long_ones_are_cut():
    assert describe_exception(ValueError("  "), "damaged") == "damaged"
    long = describe_exception(ValueError("x" * 1000))
    assert len(long) == MAX_REASON_CHARS and long.endswith("...")
    assert describe_exception(ValueError("y" * 1000), limit=None) == "y" * 1000


def test_no_module_grows_its_own_helper_again():
    """pretrained.py, imaging.py and download.py each had a `_reason`, cli/usage.py a
    `one_line`: one helper in errors.py now."""
    package = Path(dlzero_cli.__file__).parent
    found = [
        f"{path.relative_to(package)}: {match[0]}"
        for path in package.rglob("*.py")
        for match in re.finditer(r"def (_reason|one_line)\(", path.read_text(encoding="utf-8"))
    ]
    assert found == []
