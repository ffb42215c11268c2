"""Diagnostics: what the compiler tells a user about their spec.

Every user mistake becomes a `Diagnostic` that names a file, a line, a column and
the dotted key, compiler style, so editors and humans can jump to it. Passes
collect diagnostics instead of raising on the first one; `SpecError` carries the
whole sorted list out of the compiler.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

OVERRIDE_FILE = "<override>"


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based location in a source file (or `<override>` for the command line)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where it is, which key, what is wrong, and how to fix it."""

    position: Position
    key: str
    message: str
    hints: tuple[str, ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        p = self.position
        return (p.file, p.line, p.col, self.key, self.message)

    def render(self) -> str:
        """One line per problem (and per hint), whatever a key or value holds."""
        head = f"{self.position}: error: "
        head += f"{one_line(self.key)}: {one_line(self.message)}" if self.key else one_line(self.message)
        return "\n".join([head, *(f"  hint: {one_line(h)}" for h in self.hints)])


def one_line(text: str) -> str:
    """Unprintable characters (newlines, NUL, U+2028, ...) escaped, so a message stays one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class SpecError(Exception):
    """The spec (or its profiles and overrides) has problems; none is our bug."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=Diagnostic.sort_key)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest known name to a misspelt one, if any is close enough."""
    matches = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def dotted(path: Iterable[str | int]) -> str:
    """`('a', 0, 'b')` -> `a[0].b`: the key notation used in every message."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
