"""Load pass: YAML text -> plain data plus a map from key path to file:line:col.

Why not `yaml.safe_load`: we need every value's position (errors point at it),
YAML 1.2 scalars (`NO`, `yes`, `off` stay strings: no Norway problem), duplicate
keys refused with both lines named, no tags beyond the core schema (no Python
object construction), and bounded alias expansion (an alias bomb is refused at
once). ruamel.yaml composes the node graph; this module builds the values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic, Position, SpecError, dotted

MAX_DOCUMENT_BYTES = 1_000_000
MAX_NODES = 200_000
MAX_DEPTH = 64  # no spec nests deeper than ~8; Python's own recursion limit is ~1000

KeyPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_INT = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")


class RawInt(int):
    """An int from a plain scalar that remembers its text (`010` stays `"010"` in a string field)."""

    source_text: str


class RawFloat(float):
    """A float from a plain scalar that remembers its text (`1.10` stays `"1.10"` in a string field)."""

    source_text: str


def _raw(cls: type, value: Any, text: str) -> Any:
    out = cls(value)
    out.source_text = text
    return out


def resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema resolution of a plain scalar."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        if text.startswith("0o"):
            return _raw(RawInt, int(text[2:], 8), text)
        if text.startswith("0x"):
            return _raw(RawInt, int(text[2:], 16), text)
        return _raw(RawInt, int(text), text)
    if _FLOAT.match(text):
        return _raw(RawFloat, float(text), text)
    if _INF.match(text):
        return _raw(RawFloat, -math.inf if text.startswith("-") else math.inf, text)
    if _NAN.match(text):
        return _raw(RawFloat, math.nan, text)
    return text


@dataclass(frozen=True)
class Shadowed:
    """A value a later layer (profile, `_self_`, override) replaced: still the user's
    text, so still checked, at its own position."""

    path: KeyPath
    value: Any
    values: dict[KeyPath, Position]
    keys: dict[KeyPath, Position]


@dataclass
class Document:
    """Plain data with the position of every value and every mapping key."""

    data: Any
    values: dict[KeyPath, Position] = field(default_factory=dict)
    keys: dict[KeyPath, Position] = field(default_factory=dict)
    file: str = "<unknown>"
    shadowed: list[Shadowed] = field(default_factory=list)

    def subtree_positions(self, path: KeyPath) -> tuple[dict[KeyPath, Position], dict[KeyPath, Position]]:
        n = len(path)
        return (
            {k: v for k, v in self.values.items() if k[:n] == path},
            {k: v for k, v in self.keys.items() if k[:n] == path},
        )

    def position(self, path: KeyPath, *, key: bool = False) -> Position:
        """The closest known position for a path (falls back to its parents)."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            found = table.get(path[:cut]) or self.values.get(path[:cut])
            if found:
                return found
        return Position(self.file, 1, 1)


class _Builder:
    def __init__(self, file: str, doc: Document):
        self.file = file
        self.doc = doc
        self.count = 0
        self.problems: list[Diagnostic] = []

    def pos(self, node: Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: Node, path: KeyPath) -> Any:
        if len(path) > MAX_DEPTH:
            raise SpecError(
                [
                    Diagnostic(
                        self.pos(node),
                        dotted(path[:3]),
                        f"values nest deeper than {MAX_DEPTH} levels (a recursive alias?)",
                        ("flatten the structure; an alias (*name) may not refer to a value containing it",),
                    )
                ]
            )
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                [
                    Diagnostic(
                        self.pos(node),
                        "",
                        f"document expands to more than {MAX_NODES} values (alias bomb?)",
                        ("reduce the use of YAML aliases (*name)",),
                    )
                ]
            )
        self.doc.values[path] = self.pos(node)
        if node.tag not in _ALLOWED_TAGS:
            self.problems.append(
                Diagnostic(
                    self.pos(node),
                    dotted(path),
                    f"YAML tag '{node.tag}' is not allowed",
                    ("only plain YAML values are accepted: strings, numbers, booleans, lists, mappings",),
                )
            )
            return None
        if isinstance(node, ScalarNode):
            try:
                if node.style is None and node.tag != f"{_CORE}str":
                    return resolve_plain(node.value)
                if node.style is None:
                    return resolve_plain(node.value) if _implicit_str(node.value) else node.value
            except ValueError:  # an integer of thousands of digits: Python refuses to convert it
                self.problems.append(
                    Diagnostic(self.pos(node), dotted(path), f"number with {len(node.value)} characters is too large")
                )
                return None
            return node.value
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.build_mapping(node, path)
        raise TypeError(f"unexpected YAML node {node!r}")

    def build_mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_CORE}merge":
                self.problems.append(
                    Diagnostic(self.pos(key_node), dotted(path), "YAML merge keys (<<) are not supported")
                )
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Diagnostic(self.pos(key_node), dotted(path), "mapping keys must be strings"))
                continue
            key = str(key_node.value)
            here = self.pos(key_node)
            if key in seen:
                self.problems.append(
                    Diagnostic(
                        here,
                        dotted((*path, key)),
                        f"duplicate key '{key}' (first defined at line {seen[key].line})",
                        ("remove one of the two definitions",),
                    )
                )
                continue
            seen[key] = here
            self.doc.keys[(*path, key)] = here
            out[key] = self.build(value_node, (*path, key))
        return out


def _implicit_str(text: str) -> bool:
    """True when a plain scalar tagged str was resolved implicitly (not `!!str`)."""
    return not isinstance(resolve_plain(text), (int, float, bool, type(None)))


def load_text(text: str, file: str) -> Document:
    """Parse one YAML document; raise `SpecError` with positions on any problem."""
    if len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES:
        raise SpecError([Diagnostic(Position(file, 1, 1), "", f"file is larger than {MAX_DOCUMENT_BYTES} bytes")])
    yaml = YAML(typ="safe", pure=True)
    try:
        nodes = list(yaml.compose_all(text))
    except RecursionError:
        raise SpecError(
            [
                Diagnostic(
                    _deep_position(text, file), "", f"values nest deeper than YAML can be read ({MAX_DEPTH}+ levels)"
                )
            ]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = str(exc.problem or exc.context or "invalid YAML").strip()
        hints = ("YAML indentation must use spaces, not tabs",) if "\t" in _line(text, line) else ()
        raise SpecError([Diagnostic(Position(file, line, col), "", f"invalid YAML: {problem}", hints)]) from None
    except YAMLError as exc:
        raise SpecError([Diagnostic(Position(file, 1, 1), "", f"invalid YAML: {exc}")]) from None
    if len(nodes) > 1:
        raise SpecError([Diagnostic(Position(file, 1, 1), "", "expected one YAML document, found several")])
    doc = Document(data=None, file=file)
    if not nodes or nodes[0] is None:
        doc.data = {}
        return doc
    builder = _Builder(file, doc)
    doc.data = builder.build(nodes[0], ())
    if builder.problems:
        raise SpecError(builder.problems)
    return doc


def _deep_position(text: str, file: str) -> Position:
    """Where flow brackets first nest past MAX_DEPTH (quotes ignored: a best guess)."""
    depth = 0
    for n, line in enumerate(text.splitlines(), start=1):
        for col, ch in enumerate(line, start=1):
            depth += 1 if ch in "[{" else -1 if ch in "]}" else 0
            if depth > MAX_DEPTH:
                return Position(file, n, col)
    return Position(file, 1, 1)


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def load_file(path: Path, display: str) -> Document:
    """Read and parse a spec file, reporting it under its display name."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError([Diagnostic(Position(display, 0, 0), "", f"cannot read file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Diagnostic(Position(display, 1, 1), "", f"file is not UTF-8 ({exc.reason})")]) from None
    return load_text(text, display)
