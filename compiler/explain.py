"""`mlwright explain SPEC KEY [overrides]`: one setting, in full (#20 item 4).

Its resolved value; where that value came from (the file, line and column that set
it: the spec, a profile, `<override>`, or the spec models' default); what the schema
says it means and allows; and which stages it reaches, found the way `diff` finds
them: by compiling the spec again with the setting changed to another valid value
and comparing what each stage declares. Useful in review next to `diff`.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .diagnostics import Diagnostic, SpecError
from .spec import SystemSpec

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
SIZE = re.compile(r"^(\d+(?:\.\d+)?)(B|KB|MB|GB|TB|KiB|MiB|GiB)$")
SHARE = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class Explanation:
    key: str
    value: Any
    origin: str
    meaning: str
    allowed: str
    changed: tuple[str, ...] | None  # None: no other valid value to try
    rerun: tuple[str, ...]
    tried: str | None  # the value the stages were found with


# --- the setting's type and other values, from the spec models --------------------
def field_type(model: type[BaseModel], name: str) -> Any:
    for key, info in model.model_fields.items():
        if name in (key, info.alias):
            return info.annotation
    return None


def unwrap(tp: Any, part: str | None = None) -> Any:
    """The type inside Annotated/Optional; of a union of models, the one with `part`."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [unwrap(a) for a in typing.get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models and part is not None:
            return next((m for m in models if field_type(m, part) is not None), models[0])
        return args[0] if len(args) == 1 else tp
    return tp


def leaf_type(path: list[str]) -> Any:
    """The declared type of a setting (None for a list item or an unknown key)."""
    tp: Any = SystemSpec
    for part in path:
        tp = unwrap(tp, part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = field_type(tp, part)
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return unwrap(tp)


def other_values(value: Any, tp: Any, text: bool = False) -> list[Any]:
    """Other valid-looking values of a setting, the likeliest valid first: an enum's
    other choices, a flipped boolean, a moved number, a changed duration/size/share;
    with `text`, any other string too (names and paths may then fail to compile)."""
    if typing.get_origin(tp) is typing.Literal:
        return [c for c in typing.get_args(tp) if c != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [round(value * 1.5, 6), round(value / 2, 6)] if value else [0.5]
    if isinstance(value, str):
        for pattern in (DURATION, SIZE, SHARE):
            if m := pattern.match(value):
                n, suffix = float(m.group(1)), ("%" if pattern is SHARE else m.group(2))
                return [f"{n * 2:g}{suffix}", f"{n / 2:g}{suffix}"]
        if text and "${" not in value:
            return [f"{value}-changed" if value else "changed"]
    return []


# --- where a value came from, and what the schema says -----------------------------
def _path(key: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def lookup(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
            continue
        if not isinstance(data, dict) or part not in data:
            raise KeyError(part)
        data = data[part]
    return data


def schema_node(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    """The JSON Schema of one setting: through $ref, unions, maps and lists."""
    defs = schema.get("$defs", {})

    def deref(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    node = deref(schema)
    for part in path:
        options = [deref(o) for o in node.get("anyOf", node.get("oneOf", []))] or [node]
        nxt = None
        for option in options:
            if isinstance(part, int) and "items" in option:
                nxt = option["items"]
            elif isinstance(part, str) and part in option.get("properties", {}):
                nxt = option["properties"][part]
            elif isinstance(option.get("additionalProperties"), dict):
                nxt = option["additionalProperties"]
            if nxt is not None:
                break
        if nxt is None:
            return {}
        node = deref(nxt)
    return node


def allowed(node: dict[str, Any]) -> str:
    options = node.get("anyOf", [node])
    parts = []
    for o in options:
        if "const" in o:
            parts.append(repr(o["const"]))
        elif "enum" in o:
            parts.append(" | ".join(repr(v) for v in o["enum"]))
        elif "type" in o:
            bounds = [
                f"{sym} {o[k]}"
                for k, sym in (
                    ("minimum", ">="),
                    ("exclusiveMinimum", ">"),
                    ("maximum", "<="),
                    ("exclusiveMaximum", "<"),
                )
                if k in o
            ]
            pattern = f" matching {o['pattern']}" if "pattern" in o else ""
            parts.append(o["type"] + (f" ({', '.join(bounds)})" if bounds else "") + pattern)
    return " or ".join(parts) or "see the schema"


def origin(doc: Any, path: tuple[str | int, ...]) -> str:
    pos = doc.values.get(path)
    if pos is None:
        return "not written: the spec models' default (or derived from other settings)"
    return "the command line (<override>)" if pos.file == "<override>" else str(pos)


def explain(spec_path: Path, key: str, overrides: list[str], out_dir: Path | None = None) -> Explanation:
    from .api import compile_system, display_path, json_schema
    from .compose import compose
    from .diff import changed_stages

    base = compile_system(spec_path, overrides, out_dir)
    path = _path(key)
    try:
        value = lookup(base.plan.resolved, path)
    except KeyError:
        raise _unknown(key) from None
    doc = compose(spec_path, display_path(spec_path), list(overrides))
    node = schema_node(json_schema(), path)
    meaning = node.get("description", "")
    changed: tuple[str, ...] | None = None
    rerun: tuple[str, ...] = ()
    tried = None
    tp = leaf_type([str(p) for p in path]) if all(isinstance(p, str) for p in path) else None
    for candidate in other_values(value, tp, text=True) if tp is not None else []:
        try:
            other = compile_system(spec_path, [*overrides, f"{key}={candidate}"], base.out_dir)
        except SpecError:
            continue
        disk: dict[str, bytes | None] = dict(base.files)
        changed = tuple(changed_stages(other.plan, disk, other.files))
        rerun = tuple(other.plan.downstream(set(changed)))
        tried = str(candidate)
        break
    return Explanation(key, value, origin(doc, path), meaning, allowed(node), changed, rerun, tried)


def _unknown(key: str) -> SpecError:
    from .diagnostics import Position

    return SpecError([Diagnostic(Position("<explain>", 1, 1), key, "no such setting in the resolved spec")])
