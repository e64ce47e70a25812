"""One Registry class; each family (activations, losses, optimizers, ...) owns one.

YAML choices, `--help` text and "did you mean" messages all come from the names
registered here, so adding an activation is adding an entry, never an `elif`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from dlzero_cli.errors import DlzeroError

T = TypeVar("T")


class UnknownNameError(DlzeroError, KeyError):
    """A name that is not in a registry; the message lists the choices.

    Exit code 1, a failure while working: the name may come from a run's own files. A
    name typed on the command line is checked by the command before it gets here, and
    refused there as a bad command line (UsageError, 2).
    """

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    description: str


class Registry(Generic[T]):
    """A named family of interchangeable things (classes or factories)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator: `@ACTIVATIONS.register("relu", "max(0, x)")`."""

        def add(value: T) -> T:
            self.add(name, value, description)
            return value

        return add

    def add(self, name: str, value: T, description: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._entries[name] = Entry(name, value, description)

    def remove(self, name: str) -> None:
        """Drop an entry (tests register fixtures and take them out again)."""
        del self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).value

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """'unknown activation 'sigmod'; choose one of: ...; did you mean 'sigmoid'?'"""
        return f"unknown {self.family} {name!r}; {self.choices_hint(name)}"

    def choices_hint(self, name: object) -> str:
        """'choose one of: a, b; did you mean 'a'?' for a name that is not registered."""
        return f"choose one of: {', '.join(self.names())}{did_you_mean(str(name), self.names())}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """'; did you mean 'x'?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
