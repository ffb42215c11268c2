"""`mlwright diff`: what a compile would change, by file, by config key, and by stage.

The stages a change re-runs come from the stage graph: a stage re-runs when one
of its params sections or emitted deps changes, and so does everything downstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from .emit import FileMap
from .plan import SystemPlan


@dataclass(frozen=True)
class KeyChange:
    key: str
    before: Any
    after: Any


def key_changes(before: Any, after: Any, prefix: str = "") -> list[KeyChange]:
    """Leaf-level differences between two nested values, as dotted keys."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[KeyChange] = []
        for k in sorted(set(before) | set(after), key=str):
            sub = f"{prefix}.{k}" if prefix else str(k)
            if k not in before:
                out.append(KeyChange(sub, None, after[k]))
            elif k not in after:
                out.append(KeyChange(sub, before[k], None))
            else:
                out.extend(key_changes(before[k], after[k], sub))
        return out
    return [] if before == after else [KeyChange(prefix, before, after)]


def _load_yaml(body: bytes | None) -> Any:
    return yaml.safe_load(body) if body else {}


def _param(params: Any, key: str) -> Any:
    """A stage's declared params key (a section, or a dotted key inside one, as DVC reads it)."""
    node = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def changed_stages(plan: SystemPlan, disk: dict[str, bytes | None], files: FileMap) -> list[str]:
    """Stages whose own declared params or emitted deps differ: what DVC finds stale."""
    old_params = _load_yaml(disk.get("params.yaml")) or {}
    touched: set[str] = set()
    new_params = plan.params.as_yaml_data()
    for stage in plan.stages:
        if any(_param(old_params, key) != _param(new_params, key) for key in stage.params):
            touched.add(stage.name)
        if any(dep in files and disk.get(dep) != files[dep] for dep in stage.deps):
            touched.add(stage.name)
    return [s.name for s in plan.stages if s.name in touched]


def rerun_stages(plan: SystemPlan, disk: dict[str, bytes | None], files: FileMap) -> list[str]:
    """`changed_stages`, plus everything downstream of them (their inputs change)."""
    return plan.downstream(set(changed_stages(plan, disk, files)))


def spec_changes(disk: dict[str, bytes | None], files: FileMap) -> list[KeyChange]:
    return key_changes(_load_yaml(disk.get("spec.resolved.yaml")), _load_yaml(files.get("spec.resolved.yaml")))
