"""Runs waiting to be published: a durable local record first, MLflow afterwards.

The `train` stage does not talk to MLflow. Importing MLflow and opening its store is
~2.5 s of pure-Python CPU, and on a machine whose cores LightGBM keeps busy that
time cannot hide behind training. The stage writes its run (params, metrics, the
search trials, a snapshot of its artifact folders) here instead, atomically, and
the next process that opens the tracker anyway publishes it: the `register` stage
(which needs MLflow for the registry), or `mlwright run` at the end when no
register ran (`--stage train`, or a re-run that left register's inputs unchanged).
One MLflow start-up per pipeline run instead of two; an unreachable tracking
server no longer fails training, and the record waits for the next attempt.
Offline-then-sync is how W&B and Neptune run without a live server, too.

Each record carries a `mlwright.record_id` tag, so publishing one twice (a crash
between MLflow's commit and the folder's removal) yields the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from mlwright.runtime.atomic import write_json
from mlwright.runtime.context import UserError
from mlwright.runtime.stores.tracking import RECORD_TAG, RunRecord, Tracker, Trial

OUTBOX = ".mlwright/outbox"
RECORD_FILE = "record.json"
RECORD_KEYS = ("name", "tags", "params", "metrics", "trials", "artifacts")
STALE_SECONDS = 3600


def stash(root: Path, record: RunRecord) -> str:
    """Write the record and copies of its artifact folders; returns the record id.

    The copies matter: a later `train` replaces the folders the record names before
    the record may have been published."""
    record_id = f"{time.time_ns():x}-{os.urandom(4).hex()}"
    box = root / OUTBOX
    box.mkdir(parents=True, exist_ok=True)
    for left in box.glob(".*.staging"):  # a stash takes milliseconds: an hour-old one was killed
        if time.time() - left.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(left, ignore_errors=True)
    staging = box / f".{record_id}.staging"
    for path, folder in record.artifacts.items():
        shutil.copytree(folder, staging / "artifacts" / path)
    write_json(
        staging / RECORD_FILE,
        {
            "name": record.name,
            "tags": {**record.tags, RECORD_TAG: record_id},
            "params": record.params,
            "metrics": record.metrics,
            "trials": [{"name": t.name, "params": t.params, "metrics": t.metrics} for t in record.trials],
            "artifacts": sorted(record.artifacts),
        },
    )
    os.replace(staging, box / record_id)
    return record_id


def pending(root: Path) -> list[Path]:
    """Complete records, oldest first (ids start with the time they were written)."""
    box = root / OUTBOX
    if not box.is_dir():
        return []
    return sorted(p for p in box.iterdir() if not p.name.startswith(".") and (p / RECORD_FILE).is_file())


def load(folder: Path) -> RunRecord:
    """The record in `folder`; a damaged one is a one-line error naming it."""
    try:
        data: dict[str, Any] = json.loads((folder / RECORD_FILE).read_text())
        missing = set(RECORD_KEYS) - set(data)
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder}: unreadable run record ({exc}); remove the folder") from None
    if missing:
        raise UserError(f"{folder}: run record without {sorted(missing)}; remove the folder")
    return RunRecord(
        data["name"],
        data["tags"],
        data["params"],
        data["metrics"],
        {path: folder / "artifacts" / path for path in data["artifacts"]},
        [Trial(t["name"], t["params"], t["metrics"]) for t in data["trials"]],
    )


def publish_pending(root: Path, tracker: Tracker) -> dict[str, str]:
    """Publish every waiting record, removing each once MLflow has it; record id -> run id.

    Stops at the first failure (the tracker's one-line error), leaving that record
    and the later ones for the next attempt."""
    published: dict[str, str] = {}
    if not tracker.enabled:  # tracking turned off since: the records wait for it to come back
        return published
    for folder in pending(root):
        published[folder.name] = str(tracker.publish(load(folder)))
        shutil.rmtree(folder)
    return published
