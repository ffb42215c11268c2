"""Validate pass: composed document -> `SystemSpec`, or every problem at once.

Two layers: pydantic checks each section's shape (errors mapped back to the
file:line:col of the offending key or value), then `crosscheck.py` checks rules
that span sections. Both report `Diagnostic`s; nothing raises on the first one.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic, SpecError, did_you_mean, dotted
from .load import Document, KeyPath
from .spec import IDENTIFIER_PATTERN, IMAGE_REFERENCE, SystemSpec

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean (true or false)",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def validate_document(doc: Document, root: Path | None = None) -> SystemSpec:
    """Check shapes, then cross-section rules; raise SpecError listing all problems."""
    shadowed = shadowed_problems(doc)
    try:
        spec = SystemSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError([*shadowed, *(_diagnostic(doc, e) for e in _one_per_location(doc, exc.errors()))]) from None
    if shadowed:
        raise SpecError(shadowed)
    from .crosscheck import crosscheck

    problems = crosscheck(spec, doc, root)
    if problems:
        raise SpecError(problems)
    return spec


def shadowed_problems(doc: Document) -> list[Diagnostic]:
    """Each value a later layer replaced, checked where it is written.

    Hydra with structured configs rejects a bad value at merge, even one a profile
    overrides; a typo in the spec (`backend: sqlit3`) must not compile because
    `profile/local.yaml` happens to set `sqlite` today. Each shadowed value is put
    back into the composed document and checked for shape; only problems at or
    under its own key are reported, at its own file:line:col."""
    out: list[Diagnostic] = []
    for old in doc.shadowed:
        trial = Document(copy.deepcopy(doc.data), dict(doc.values), dict(doc.keys), doc.file)
        parent = trial.data
        for part in old.path[:-1]:
            if not isinstance(parent, dict) or part not in parent:
                break
            parent = parent[part]
        else:
            if not isinstance(parent, dict):
                continue
            parent[old.path[-1]] = copy.deepcopy(old.value)
            n = len(old.path)
            for table, mine in ((trial.values, old.values), (trial.keys, old.keys)):
                for k in [k for k in table if k[:n] == old.path]:
                    del table[k]
                table.update(mine)
            try:
                SystemSpec.model_validate(trial.data)
            except ValidationError as exc:
                here = dotted(list(old.path))
                for err in _one_per_location(trial, exc.errors()):
                    d = _diagnostic(trial, err)
                    if d.key == here or d.key.startswith(here + "."):
                        out.append(d)
    return out


def _one_per_location(doc: Document, errors: list[Any]) -> list[Any]:
    """A value that fits no member of a union gets one message, not one per member:
    keep the member whose kind matches the value (a number's range, not `'auto'`)."""
    by_path: dict[KeyPath, list[Any]] = {}
    for err in errors:
        by_path.setdefault(_doc_path(doc, tuple(err["loc"])), []).append(err)
    out = []
    for errs in by_path.values():
        if not isinstance(errs[0].get("input"), str):
            errs = [e for e in errs if e["type"] != "literal_error"] or errs
        out.append(errs[0])
    return out


def _doc_path(doc: Document, loc: tuple[Any, ...]) -> KeyPath:
    """Drop union tags and model names from a pydantic location: keep real keys only."""
    out: list[str | int] = []
    node: Any = doc.data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.endswith("_") and part[:-1] in node:
            out.append(part[:-1])
            node = node[part[:-1]]
        elif not isinstance(node, (dict, list)):
            break
        else:
            if isinstance(part, str) and not _is_tag(part):
                out.append(part)  # a missing key: report at its would-be parent's position
                break
    return tuple(out)


def _is_tag(part: str) -> bool:
    return part in {
        "csv",
        "parquet",
        "jsonl",
        "dicom",
        "lightgbm",
        "torch",
        "int",
        "float",
        "categorical",
        "log",
        "webhook",
    } or ("[" in part or part[:1].isupper())


def _diagnostic(doc: Document, err: Any) -> Diagnostic:
    loc = tuple(err["loc"])
    kind = err["type"]
    path = _doc_path(doc, loc)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        known = _known_keys(doc, path[:-1])
        guess = did_you_mean(str(path[-1]), known)
        hints = [f"did you mean '{guess}'?"] if guess else []
        if known:
            hints.append(f"known keys here: {', '.join(sorted(known))}")
        return Diagnostic(doc.position(path, key=True), dotted(path), f"unknown key '{path[-1]}'", tuple(hints))
    if kind == "missing":
        return Diagnostic(doc.position(path[:-1], key=True), dotted(path), "required key is missing")
    if kind in ("literal_error", "enum"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return Diagnostic(doc.position(path), dotted(path), _not_one_of(value, choices))
    if kind == "union_tag_invalid":
        field = str(ctx.get("discriminator", "")).strip("'")
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        where = (*path, field)
        return Diagnostic(doc.position(where), dotted(where), _not_one_of(ctx.get("tag"), choices))
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "")).strip("'")
        return Diagnostic(doc.position(path), dotted((*path, field)), "required key is missing")
    if kind in _TYPE_WORDS:
        return Diagnostic(doc.position(path), dotted(path), f"expected {_TYPE_WORDS[kind]}, got {_show(value)}")
    message = str(err["msg"])
    message = message.removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else message
    if kind == "finite_number":
        message = f"expected a finite number, got {_show(value)}"
    if kind in ("string_pattern_mismatch",):
        message = f"{_show(value)} does not match the pattern {ctx.get('pattern')}"
        if ctx.get("pattern") == IMAGE_REFERENCE:
            message = f"{_show(value)} is not a container image reference (registry/name:tag or @sha256:digest)"
        if ctx.get("pattern") == IDENTIFIER_PATTERN:
            message = f"{_show(value)} is not an identifier (letters, digits and _, not starting with a digit)"
            hint = f"a file's column can be renamed at its source: rename: {{{_show(value)}: {_identifier(value)}}}"
            return Diagnostic(doc.position(path), dotted(path), message, (hint,))
    return Diagnostic(doc.position(path), dotted(path), message)


def _identifier(value: Any) -> str:
    """A suggestion: the text with every run of other characters made one `_`."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", str(value)).strip("_").lower() or "column"
    return f"_{text}" if text[0].isdigit() else text


def _not_one_of(value: Any, choices: list[str]) -> str:
    text = f"{_show(value)} is not one of: {', '.join(choices)}"
    guess = did_you_mean(str(value), choices) if isinstance(value, str) else None
    return f"{text} (did you mean '{guess}'?)" if guess else text


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) < 80 else repr(value[:77] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return str(getattr(value, "source_text", value))


def _known_keys(doc: Document, path: KeyPath) -> list[str]:
    """The keys a mapping at `path` accepts, found by walking the models."""
    model: Any = SystemSpec
    node: Any = doc.data
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            node = node[part]
        else:
            node = None
        model = _child(model, part, node)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _child(model: Any, part: str | int, node: Any) -> Any:
    """The model type found at `part` below `model`, choosing union members by `node`."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        for name, f in model.model_fields.items():
            if part in (name, f.alias):
                return _pick(f.annotation, node)
        return None
    origin = typing.get_origin(model)
    args = typing.get_args(model)
    if origin is list and args:
        return _pick(args[0], node)
    if origin is dict and len(args) == 2:
        return _pick(args[1], node)
    return None


def _pick(annotation: Any, node: Any) -> Any:
    """Unwrap Annotated/Optional and choose the union member whose tag matches `node`."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [_pick(a, node) for a in typing.get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        for m in models:
            for name, f in m.model_fields.items():
                tag = typing.get_origin(f.annotation) is typing.Literal and isinstance(node, dict)
                if tag and node.get(f.alias or name) in typing.get_args(f.annotation):
                    return m
        return models[0] if models else (members[0] if members else None)
    return annotation
