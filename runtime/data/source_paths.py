"""Which files a source names: a path, a folder, or a glob, relative to the spec's folder.

Kept apart from the readers (and their pyarrow import) because `verify` and the
no-change `run` only need the file list.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from mlwright.contract.ingest import Source
from mlwright.runtime.context import UserError

S3_CACHE = ".mlwright/s3"


class NoFiles(UserError):
    """A source names nothing that exists (its files were deleted, or the glob is empty)."""


def source_files(source: Source, root: Path, cache: Path | None = None) -> list[Path]:
    """The files of a source, sorted; a missing file or an empty glob is an error.
    `s3://` sources are downloaded into `cache` first (credentials from the environment)."""
    uri = source.uri
    if uri.startswith("s3://"):
        if cache is None:
            raise UserError(f"source '{source.name}': {uri}: no download folder for s3 sources")
        return fetch_s3(source.name, uri, cache)
    pattern = str(root / uri)
    if glob.has_magic(uri):
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not files:
            raise NoFiles(f"source '{source.name}': no files match {uri}")
        return files
    path = Path(pattern)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise NoFiles(f"source '{source.name}': folder {uri} is empty")
        return files
    if not path.is_file():
        raise NoFiles(f"source '{source.name}': {uri}: no such file")
    return [path]


def fetch_s3(name: str, uri: str, cache: Path) -> list[Path]:
    """List `uri` (a key, a prefix or a glob) and download each object to cache/<bucket>/<key>."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(uri, skip_instance_cache=True)  # credentials/endpoint as of now
        if glob.has_magic(path):
            keys = fs.glob(path)
        elif fs.isdir(path):
            keys = fs.find(path)
        else:
            keys = [path] if fs.exists(path) else []
    except ImportError:
        raise UserError(f"source '{name}': reading {uri} needs s3fs: pip install 'mlwright[s3]'") from None
    except Exception as exc:  # botocore/s3fs raise many types for credentials and network
        raise UserError(f"source '{name}': cannot list {uri}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not keys:
        raise NoFiles(f"source '{name}': no objects match {uri}")
    out = []
    for key in sorted(keys):
        local = cache / key
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        fs.get_file(key, str(tmp))
        os.replace(tmp, local)
        out.append(local)
    return out


def manifest_path(path: Path, root: Path, cache: Path) -> str:
    """How the manifest names a file: `s3://bucket/key` for downloads, else relative to the spec."""
    resolved = path.resolve()
    if resolved.is_relative_to(cache.resolve()):
        return "s3://" + resolved.relative_to(cache.resolve()).as_posix()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else os.path.relpath(path, root)
