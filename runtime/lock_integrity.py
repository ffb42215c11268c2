"""Every artifact a stage wrote, checked for real against the md5 DVC recorded for it.

DVC decides what to re-run from its state database (size, mtime, inode), as it
should for speed: a byte flip with the mtime put back is invisible to it, and the
next stage would read the altered file. `dvc.lock` holds the md5 of every output
(a directory's per-file listing is in DVC's cache, `<md5>.dir`), so these are the
hashes to hold the files to, re-read byte by byte: each stage checks the outputs it
reads before it reads them, and `mlwright verify` checks them all.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlwright.runtime.hashing import Change, md5_file

LOCK = "dvc.lock"


@dataclass(frozen=True)
class RecordedOut:
    """One output file (relative to the build folder) and its md5 in DVC's records;
    `md5` is None when DVC recorded a directory whose listing its cache no longer has."""

    path: str
    md5: str | None


def cache_dir(build: Path) -> Path | None:
    """DVC's cache of the repository holding `build` (`cache.dir` honoured)."""
    root = next((c for c in (build, *build.parents) if (c / ".dvc").is_dir()), None)
    if root is None:
        return None
    folder = root / ".dvc" / "cache"
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser()
        try:
            parser.read(root / ".dvc" / name)
        except configparser.Error:
            continue
        if parser.has_option("cache", "dir"):
            folder = (root / ".dvc" / parser.get("cache", "dir")).resolve()
    return folder


def dir_listing(cache: Path | None, md5: str) -> list[dict[str, str]] | None:
    if cache is None:
        return None
    name = md5.removesuffix(".dir")
    listing = cache / "files" / "md5" / name[:2] / f"{name[2:]}.dir"
    try:
        return list(json.loads(listing.read_text()))
    except (OSError, ValueError):
        return None


def recorded_outs(build: Path) -> dict[str, list[RecordedOut]]:
    """Stage -> the files it wrote, as `dvc.lock` records them (empty: never run by DVC)."""
    lock = build / LOCK
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    cache = cache_dir(build.resolve())
    out: dict[str, list[RecordedOut]] = {}
    for stage, entry in stages.items():
        files: list[RecordedOut] = []
        for item in entry.get("outs", []):
            md5 = str(item.get("md5", ""))
            if not md5.endswith(".dir"):
                files.append(RecordedOut(item["path"], md5 or None))
                continue
            listing = dir_listing(cache, md5)
            if listing is None:
                files.append(RecordedOut(item["path"], None))
                continue
            files.extend(RecordedOut(f"{item['path']}/{e['relpath']}", e["md5"]) for e in listing)
        out[stage] = files
    return out


def changes_of(build: Path, recorded: Iterable[RecordedOut]) -> list[Change]:
    changes = []
    for out in recorded:
        path = build / out.path
        if out.md5 is None:
            changes.append(Change(out.path, "unrecorded (DVC's cache has no listing of this folder)"))
        elif not path.is_file():
            changes.append(Change(out.path, "missing"))
        elif md5_file(str(path)) != out.md5:
            changes.append(Change(out.path, "modified"))
    return changes


def out_changes(build: Path) -> list[Change]:
    """Every output DVC recorded whose bytes are not the recorded ones (`verify`)."""
    return changes_of(build, [o for files in recorded_outs(build).values() for o in files])


def input_changes(build: Path, deps: Iterable[str]) -> dict[str, list[Change]]:
    """Of a stage's dependencies, the ones another stage wrote and whose bytes changed
    since, by the stage that wrote them (a dependency no stage wrote, a source, is
    ingest's to check against the manifest)."""
    wanted = [d.rstrip("/") for d in deps]
    found = {}
    for stage, files in recorded_outs(build).items():
        read = [o for o in files if any(o.path == d or o.path.startswith(f"{d}/") for d in wanted)]
        if changes := changes_of(build, read):
            found[stage] = changes
    return found


def refuse_changed_inputs(build: Path, stage: str) -> None:
    """Stop a stage before it reads an upstream output whose bytes changed since DVC
    recorded them, naming each file (DVC's own check, by mtime, cannot see it)."""
    from mlwright.runtime.context import GateFailed

    plan = json.loads((build / "plan.json").read_text()) if (build / "plan.json").is_file() else {}
    deps: list[str] = next((s["deps"] for s in plan.get("stages", []) if s["name"] == stage), [])
    found = input_changes(build, deps)
    if not found:
        return
    changes = [c for cs in found.values() for c in cs]
    named = "; ".join(f"{c.path} {c.what}" for c in changes[:5])
    more = f" (and {len(changes) - 5} more)" if len(changes) > 5 else ""
    first = next(iter(found))
    raise GateFailed(
        f"refusing inputs changed since the stage that wrote them ran (md5 differs from dvc.lock): "
        f"{named}{more}; re-create them: mlwright run --stage {first} --force"
    )
