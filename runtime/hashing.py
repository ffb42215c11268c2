"""SHA-256 of many files, fast: large reads, all cores, and a state cache.

A file whose (size, mtime_ns, inode) is unchanged since its last hash reuses the
recorded digest (like DVC's state db), so re-ingesting unchanged data costs a
`stat` per file. `verify` never uses the cache: it re-reads every byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlwright.runtime.atomic import write_json


@dataclass(frozen=True)
class Change:
    """A file whose bytes are not the ones recorded for it (what `verify` prints)."""

    path: str
    what: str  # modified | truncated | grown | missing | added | unrecorded


CHUNK = 1024 * 1024  # stays in L2: faster than larger reads here


def sha256_file(path: str) -> str:
    return file_digest(path, hashlib.sha256())


def md5_file(path: str) -> str:
    """DVC's hash of a file (what `dvc.lock` records), not a security measure."""
    return file_digest(path, hashlib.md5(usedforsecurity=False))


def file_digest(path: str, h: Any) -> str:
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
    return str(h.hexdigest())


def hash_files(paths: list[str], workers: int | None = None) -> dict[str, str]:
    """Digest of every path, in parallel across processes when it pays."""
    if not paths:
        return {}
    workers = workers or min(len(paths), os.cpu_count() or 1)
    total = sum(os.path.getsize(p) for p in paths)
    if workers <= 1 or total < 32 * 1024 * 1024:
        return {p: sha256_file(p) for p in paths}
    # Largest first so one big file does not finish last.
    order = sorted(paths, key=os.path.getsize, reverse=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(sha256_file, order, chunksize=max(1, min(16, len(order) // (workers * 8)))))
    return dict(zip(order, digests, strict=True))


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def hash_with_state(paths: list[str], state_file: Path) -> dict[str, str]:
    """Hash `paths`, reusing digests of files unchanged since `state_file` was written."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    stats = {p: os.stat(p) for p in paths}
    known: dict[str, str] = {}
    todo: list[str] = []
    for p in paths:
        entry = state.get(p)
        if entry and entry[:3] == _stamp(stats[p]):
            known[p] = entry[3]
        else:
            todo.append(p)
    known.update(hash_files(todo))
    if todo or len(state) != len(paths):
        write_json(state_file, {p: [*_stamp(stats[p]), known[p]] for p in paths})
    return known
