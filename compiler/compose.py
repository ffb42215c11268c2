"""Compose pass: the Hydra defaults list, profile overlays and command-line overrides.

The spec's `defaults:` list follows Hydra's rules (`_self_` placement decides who
wins; a group entry `profile: local` loads `profile/local.yaml` beside the spec;
`# @package _global_` merges it at the root). Overrides use Hydra's own grammar
(`key=value`, `+key=value`, `++key=value`, `~key`, `group=option`). Unlike plain
Hydra, `key=value` may set a key the file omits: every key has a schema default,
and validation reports unknown keys at the override's position. We apply them
to our position-tracking document rather than to an OmegaConf tree so that every
value, also one from a profile or an override, keeps its file:line:col.

`${oc.env:NAME,default}` stays a reference (resolved by the runtime, never
written out as a value); `${dotted.key}` references are resolved here.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .diagnostics import OVERRIDE_FILE, Diagnostic, Position, SpecError, did_you_mean, dotted
from .load import MAX_NODES, Document, KeyPath, Shadowed, load_file, resolve_plain

ENV_REF = re.compile(r"^\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)(?:,(.*))?\}$", re.S)
NODE_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_.]*)\}$")
ANY_REF = re.compile(r"\$\{")


@dataclass(frozen=True)
class GroupChoice:
    group: str
    option: str
    position: Position


def compose(spec_path: Path, display: str, overrides: list[str]) -> Document:
    """Load a spec with its defaults list and overrides into one document."""
    main = load_file(spec_path, display)
    if not isinstance(main.data, dict):
        raise SpecError([Diagnostic(main.position(()), "", "the spec must be a YAML mapping")])
    parsed = _parse_overrides(overrides)
    entries = _defaults_entries(main)
    groups = {e.group for e in entries if isinstance(e, GroupChoice)}
    groups |= {ov.key for ov in parsed if ov.kind == "add" and (spec_path.parent / ov.key).is_dir()}
    entries = _apply_group_overrides(entries, parsed, groups)
    result = Document(data={}, file=main.file)
    for entry in entries:
        if entry == "_self_":
            body = {k: v for k, v in main.data.items() if k != "defaults"}
            _merge(result, Document(body, main.values, main.keys), ())
        else:
            _merge(result, _load_group(spec_path, display, entry), ())
    # the defaults list as it was applied (a `profile=` override included): what the
    # system was compiled with, e.g. the overlay deploy/k8s/ names after its profile
    result.data["defaults"] = [e if e == "_self_" else {e.group: e.option} for e in entries]
    _copy_positions(main, result, ("defaults",))
    for ov in parsed:
        if ov.key not in groups:
            _apply_override(result, ov)
    _resolve_node_refs(result)
    return result


def _defaults_entries(doc: Document) -> list[Any]:
    raw = doc.data.get("defaults")
    if raw is None:
        return ["_self_"]
    if not isinstance(raw, list):
        raise SpecError([Diagnostic(doc.position(("defaults",)), "defaults", "must be a list")])
    out: list[Any] = []
    problems: list[Diagnostic] = []
    for i, item in enumerate(raw):
        pos = doc.position(("defaults", i))
        if item == "_self_":
            out.append("_self_")
        elif isinstance(item, dict) and len(item) == 1:
            ((group, option),) = item.items()
            if not isinstance(option, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", group + option):
                problems.append(Diagnostic(pos, f"defaults[{i}]", "expected `group: option` with plain names"))
            else:
                out.append(GroupChoice(group, option, doc.position(("defaults", i, group))))
        else:
            problems.append(Diagnostic(pos, f"defaults[{i}]", "expected `_self_` or `group: option`"))
    if problems:
        raise SpecError(problems)
    if "_self_" not in out:
        out.append("_self_")  # Hydra >= 1.1: the primary config comes last unless placed
    return out


@dataclass(frozen=True)
class _Override:
    kind: str  # change | add | force_add | delete
    key: str
    value: Any
    position: Position


def _parse_overrides(overrides: list[str]) -> list[_Override]:
    if not overrides:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out: list[_Override] = []
    problems: list[Diagnostic] = []
    for i, text in enumerate(overrides, start=1):
        try:
            (ov,) = parser.parse_overrides([text])
        except HydraException as exc:
            msg = str(exc).splitlines()[0]
            problems.append(Diagnostic(Position(OVERRIDE_FILE, i, 1), text, f"invalid override: {msg}"))
            continue
        value_text = text.split("=", 1)[1] if "=" in text else ""
        value = ov.value()
        if isinstance(value, str) and value_text[:1] not in ("'", '"'):
            value = resolve_plain(value)
        kind = {"CHANGE": "change", "ADD": "add", "FORCE_ADD": "force_add", "DEL": "delete"}[ov.type.name]
        col = text.find("=") + 2 if "=" in text else 1
        out.append(_Override(kind, ov.key_or_group, value, Position(OVERRIDE_FILE, i, col)))
    if problems:
        raise SpecError(problems)
    return out


def _apply_group_overrides(entries: list[Any], parsed: list[_Override], groups: set[str]) -> list[Any]:
    out = list(entries)
    for ov in parsed:
        if ov.key in groups and not any(isinstance(e, GroupChoice) and e.group == ov.key for e in out):
            out.append(GroupChoice(ov.key, str(ov.value), ov.position))  # `+group=option` (Hydra)
        elif ov.key in groups:
            out = [
                GroupChoice(e.group, str(ov.value), ov.position)
                if isinstance(e, GroupChoice) and e.group == ov.key
                else e
                for e in out
            ]
    return out


PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def _load_group(spec_path: Path, display: str, choice: GroupChoice) -> Document:
    """`group: option` -> `<spec folder>/<group>/<option>.yaml`, never a file elsewhere:
    both are plain names, and the file (symlinks followed) stays in the spec's folder."""
    folder = spec_path.parent / choice.group
    path = folder / f"{choice.option}.yaml"
    inside = spec_path.parent.resolve() in path.resolve().parents
    if not (PLAIN_NAME.fullmatch(choice.group) and PLAIN_NAME.fullmatch(choice.option) and inside):
        raise SpecError(
            [
                Diagnostic(
                    choice.position,
                    f"defaults.{choice.group}",
                    f"'{choice.group}: {choice.option}' must name a file in a folder beside the spec",
                    ("group and option are plain names (letters, digits, _ and -), e.g. profile: local",),
                )
            ]
        )
    shown = str(Path(display).parent / choice.group / f"{choice.option}.yaml")
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        hint = did_you_mean(choice.option, known)
        hints = [f"did you mean '{hint}'?"] if hint else []
        hints.append(f"known options: {', '.join(known)}" if known else f"create {shown}")
        raise SpecError(
            [
                Diagnostic(
                    choice.position,
                    f"defaults.{choice.group}",
                    f"no config '{choice.option}' in group '{choice.group}'",
                    tuple(hints),
                )
            ]
        )
    doc = load_file(path, shown)
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise SpecError([Diagnostic(doc.position(()), "", "a profile must be a YAML mapping")])
    header = path.read_text(encoding="utf-8").lstrip().splitlines()[:1]
    if header and re.match(r"#\s*@package\s+_global_\s*$", header[0]):
        return doc
    return Document({choice.group: doc.data}, _prefixed(doc.values, choice.group), _prefixed(doc.keys, choice.group))


def _prefixed(table: dict[KeyPath, Position], head: str) -> dict[KeyPath, Position]:
    return {(head, *k): v for k, v in table.items()}


def _merge(into: Document, other: Document, path: KeyPath) -> None:
    """Deep-merge `other` into `into` (mappings merge, everything else replaces)."""
    src = _get(other.data, path)
    target = into.data if path == () else _get(into.data, path[:-1])
    if path and not (isinstance(target, dict) and isinstance(target.get(path[-1]), dict) and isinstance(src, dict)):
        if isinstance(target, dict) and path[-1] in target:
            _shadow(into, path, target[path[-1]])
        _drop_positions(into, path)
        target[path[-1]] = copy.deepcopy(src)
        _copy_positions(other, into, path)
        return
    here = into.data if path == () else target[path[-1]]
    if path in other.values:
        into.values[path] = other.values[path]
    for key in src:
        sub = (*path, key)
        if key in other.keys:
            into.keys[sub] = other.keys[sub]
        if key not in here:
            here[key] = copy.deepcopy(src[key])
            _copy_positions(other, into, sub)
        else:
            _merge(into, other, sub)


def _shadow(doc: Document, path: KeyPath, old: Any) -> None:
    values, keys = doc.subtree_positions(path)
    doc.shadowed.append(Shadowed(path, copy.deepcopy(old), values, keys))


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _drop_positions(doc: Document, path: KeyPath) -> None:
    n = len(path)
    for table in (doc.values, doc.keys):
        for k in [k for k in table if k[:n] == path and len(k) > n]:
            del table[k]


def _copy_positions(src: Document, dst: Document, path: KeyPath) -> None:
    n = len(path)
    for s, d in ((src.values, dst.values), (src.keys, dst.keys)):
        for k, v in s.items():
            if k[:n] == path:
                d[k] = v


def _apply_override(doc: Document, ov: _Override) -> None:
    parts: list[str | int] = list(ov.key.split("."))
    parent: Any = doc.data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(parent, dict) or part not in parent:
            if ov.kind != "delete" and isinstance(parent, dict):
                parent[part] = {}  # a schema default the file omits; validation rejects unknown keys
            else:
                _missing(doc, ov, parts[: i + 1])
        parent = parent[part]
    last = parts[-1]
    if not isinstance(parent, dict):
        _missing(doc, ov, parts)
    path = tuple(parts)
    exists = last in parent
    if ov.kind == "delete":
        if not exists:
            _missing(doc, ov, parts)
        del parent[last]
        _drop_positions(doc, path)
        doc.values.pop(path, None)
        doc.keys.pop(path, None)
        return
    if ov.kind == "add" and exists:
        raise SpecError(
            [Diagnostic(ov.position, ov.key, "key already set; use ++ to force", (f"use {ov.key}=... to change it",))]
        )
    if exists:
        _shadow(doc, path, parent[last])
    parent[last] = ov.value
    _drop_positions(doc, path)
    doc.values[path] = ov.position
    doc.keys[path] = ov.position
    _stamp(doc, ov.value, path, ov.position)


def _stamp(doc: Document, value: Any, path: KeyPath, pos: Position) -> None:
    doc.values[path] = pos
    if isinstance(value, dict):
        for k, v in value.items():
            doc.keys[(*path, k)] = pos
            _stamp(doc, v, (*path, k), pos)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _stamp(doc, v, (*path, i), pos)


def _missing(doc: Document, ov: _Override, parts: list[str | int], hint: str | None = None) -> None:
    parent = _get(doc.data, tuple(parts[:-1])) if len(parts) > 1 else doc.data
    known = list(parent) if isinstance(parent, dict) else []
    guess = did_you_mean(str(parts[-1]), [str(k) for k in known])
    hints = [f"did you mean '{dotted([*parts[:-1], guess])}'?"] if guess else []
    if hint:
        hints.append(hint)
    raise SpecError([Diagnostic(ov.position, dotted(parts), "no such key to override", tuple(hints))])


def _resolve_node_refs(doc: Document) -> None:
    """Replace `${a.b}` values by the value they name (env refs stay as they are).

    Expansion is bounded like aliases are: references to references to lists grow
    geometrically (7 levels of 10 took 18 s, 8 never ended), so the document may
    expand to at most MAX_NODES values."""
    problems: list[Diagnostic] = []
    produced = [0]

    def walk(value: Any, path: KeyPath, depth: int = 0) -> Any:
        produced[0] += 1
        if produced[0] > MAX_NODES:
            raise SpecError(
                [
                    Diagnostic(
                        doc.position(path),
                        dotted(path),
                        f"references (${{...}}) expand the document to more than {MAX_NODES} values",
                        ("refer to fewer or smaller values",),
                    )
                ]
            )
        if isinstance(value, dict):
            return {k: walk(v, (*path, k), depth) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i), depth) for i, v in enumerate(value)]
        if isinstance(value, str) and ANY_REF.search(value):
            if ENV_REF.match(value):
                return value
            ref = NODE_REF.match(value)
            if not ref:
                problems.append(
                    Diagnostic(
                        doc.position(path),
                        dotted(path),
                        f"unsupported interpolation '{value}'",
                        ("use ${oc.env:NAME,default} for environment values or ${section.key} for another key",),
                    )
                )
                return value
            target: Any = doc.data
            for part in ref.group(1).split("."):
                if not isinstance(target, dict) or part not in target:
                    problems.append(
                        Diagnostic(doc.position(path), dotted(path), f"reference to unknown key '{ref.group(1)}'")
                    )
                    return value
                target = target[part]
            if depth > 10:
                problems.append(Diagnostic(doc.position(path), dotted(path), "reference cycle"))
                return value
            return walk(copy.deepcopy(target), path, depth + 1)
        return value

    doc.data = walk(doc.data, ())
    if problems:
        raise SpecError(problems)
