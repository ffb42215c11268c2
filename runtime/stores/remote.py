"""Where dataset versions are kept: the remote's URL (a folder, s3://, gs://, azure://)
and the filesystem that reaches it. Shared by `pipeline` (DVC's remote) and `rebuild`
(mlwright's own content-addressed copy of the sources)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlwright.runtime.context import UserError, load_context, resolve_env


def remote_url(build: Path) -> str:
    """`data.versioning.remote`, resolved now (environment references included)."""
    ctx = load_context(build)
    url = str(resolve_env(ctx.params.versioning.remote))
    if "://" in url:
        return url
    return str((build / url).resolve())


def remote_fs(url: str) -> tuple[Any, str]:
    import logging

    import fsspec

    logging.getLogger("gcsfs").setLevel(logging.ERROR)  # its "could not determine bucket type" notes are not ours
    if url.startswith("azure://"):  # DVC's name for Azure Blob; fsspec's (adlfs) is az://
        url = "az://" + url[len("azure://") :]
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise UserError(
            f"remote {url}: {exc} (s3:// needs mlwright[s3], gs:// mlwright[gcs], azure:// mlwright[azure])"
        ) from None
    return fs, path.rstrip("/")


def object_store(fs: Any) -> bool:
    """S3, GCS, Azure (not a local folder, where a rename makes a write atomic)."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return not {"file", "local"} & set(protocols)
