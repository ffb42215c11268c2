"""Write, check and diff: the file map against what is on disk.

`write_tree` replaces each file atomically and deletes files that a previous
compile emitted (known from its lock) but this one does not; files the compiler
never emitted (run outputs beside them) are never touched. `stale_files` and
`unified_diff` serve `compile --check` and `mlwright diff`.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from mlwright.contract.files import write_atomic

from .emit import LOCK, FileMap


def previously_emitted(out_dir: Path) -> set[str]:
    """The files the last compile wrote, from its lock. The lock is input (a pull
    request can edit it), so only names that stay inside `out_dir` count: a lock
    naming `../../secret` must not make `--check` or `diff` print that file."""
    lock = out_dir / LOCK
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
        names = set(data.get("files", {}))
    except (OSError, ValueError, AttributeError, TypeError):
        return set()
    return {n for n in names if isinstance(n, str) and _inside(out_dir, n)} | {LOCK}


def _inside(out_dir: Path, rel: str) -> bool:
    if not rel or "\x00" in rel or rel.startswith(("/", "~")) or "\\" in rel:
        return False
    root = out_dir.resolve()
    return root in (out_dir / rel).resolve().parents


def _safe_target(out_dir: Path, rel: str) -> Path:
    if not _inside(out_dir, rel):
        raise ValueError(f"refusing to write outside the output folder: {rel}")
    return (out_dir / rel).resolve()


def write_tree(files: FileMap, out_dir: Path) -> list[str]:
    """Write the file map; return the relative paths that changed or were removed."""
    changed: list[str] = []
    old = previously_emitted(out_dir)
    for rel, body in files.items():
        target = _safe_target(out_dir, rel)
        if not target.is_file() or target.read_bytes() != body:
            write_atomic(target, body)
            changed.append(rel)
    for rel in sorted(old - set(files)):
        target = _safe_target(out_dir, rel)
        if target.is_file():
            target.unlink()
            changed.append(rel)
    return changed


def current_tree(out_dir: Path, files: FileMap) -> dict[str, bytes | None]:
    """What is on disk for every path the compile emits or once emitted."""
    paths = set(files) | previously_emitted(out_dir)
    out: dict[str, bytes | None] = {}
    for rel in sorted(paths):
        p = out_dir / rel
        out[rel] = p.read_bytes() if p.is_file() else None
    return out


def stale_files(files: FileMap, out_dir: Path) -> list[str]:
    disk = current_tree(out_dir, files)
    return [rel for rel in sorted(disk) if disk[rel] != files.get(rel)]


def unified_diff(files: FileMap, out_dir: Path, rels: list[str]) -> str:
    disk = current_tree(out_dir, files)
    chunks: list[str] = []
    for rel in rels:
        before = (disk.get(rel) or b"").decode("utf-8", "replace").splitlines(keepends=True)
        after = (files.get(rel) or b"").decode("utf-8", "replace").splitlines(keepends=True)
        a = f"a/{rel}" if disk.get(rel) is not None else "/dev/null"
        b = f"b/{rel}" if rel in files else "/dev/null"
        chunks.extend(difflib.unified_diff(before, after, a, b))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
