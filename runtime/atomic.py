"""Nothing half-written: every output goes to a temporary name, then `os.replace`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from mlwright.contract.files import write_atomic


def write_bytes(path: Path, body: bytes) -> None:
    write_atomic(path, body)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_parquet(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def replace_dir(staging: Path, final: Path) -> None:
    """Swap a fully written staging folder into place (the old one goes last)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def staging_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    path = final.with_name(f".{final.name}.staging")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path
