"""Which files a source names: a path, a folder, or a glob, relative to the spec's folder.

Kept apart from the readers (and their pyarrow import) because `verify` and the
no-change `run` only need the file list.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from .context import UserError


def source_files(source: dict[str, Any], root: Path) -> list[Path]:
    """The files of a local source, sorted; a missing file or an empty glob is an error."""
    uri = source["uri"]
    if uri.startswith("s3://"):
        raise UserError(
            f"source '{source['name']}': {uri}: s3 sources are read through the DVC remote; import them with `dvc import-url` into the project"
        )
    pattern = str(root / uri)
    if glob.has_magic(uri):
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not files:
            raise UserError(f"source '{source['name']}': no files match {uri}")
        return files
    path = Path(pattern)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UserError(f"source '{source['name']}': folder {uri} is empty")
        return files
    if not path.is_file():
        raise UserError(f"source '{source['name']}': {uri}: no such file")
    return [path]
