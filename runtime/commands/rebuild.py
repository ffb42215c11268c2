"""Dataset versions in the remote, and their verified reconstruction.

DVC versions the pipeline's outputs (snapshots, features, models). The raw
sources are versioned here: `push` stores each source file under its SHA-256
(`<remote>/mlwright/objects/ab/cdef...`, stored once however many versions use it)
and the version's manifest (`<remote>/mlwright/versions/<id>.csv`). `rebuild`
fetches a version into a clean folder, re-hashes every file and times the whole
reconstruction against `data.versioning.rebuild_sla`. Local folders and
`s3://` remotes go through fsspec (credentials from the environment only).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from mlwright.runtime.context import GateFailed, StageContext, UserError, load_context
from mlwright.runtime.data.source_paths import S3_CACHE
from mlwright.runtime.hashing import sha256_file
from mlwright.runtime.stages.ingest import MANIFEST, VERSION, read_manifest, version_id
from mlwright.runtime.stores.remote import object_store, remote_fs, remote_url


def push_sources(ctx: StageContext) -> dict[str, int]:
    """Upload the current version's source files (new objects only) and its manifest."""
    manifest = ctx.path(MANIFEST)
    if not manifest.is_file():
        raise UserError(f"{manifest}: nothing to push yet; run the pipeline first")
    rows = read_manifest(manifest)
    fs, base = remote_fs(remote_url(ctx.root))
    root = ctx.source_root()
    uploaded = 0
    for r in rows:
        obj = f"{base}/mlwright/objects/{r.sha256[:2]}/{r.sha256[2:]}"
        if not fs.exists(obj):
            local = ctx.path(S3_CACHE) / r.path[len("s3://") :] if r.path.startswith("s3://") else root / r.path
            if sha256_file(str(local)) != r.sha256:
                raise GateFailed(f"{r.path} changed since the manifest; re-run ingest before pushing")
            fs.makedirs(obj.rsplit("/", 1)[0], exist_ok=True)
            if object_store(fs):  # one PUT is atomic there: no half-written object is ever visible
                fs.put_file(str(local), obj)
            else:
                fs.put_file(str(local), obj + ".tmp")
                fs.mv(obj + ".tmp", obj)
            uploaded += 1
    vid = version_id(rows)
    fs.makedirs(f"{base}/mlwright/versions", exist_ok=True)
    fs.put_file(str(manifest), f"{base}/mlwright/versions/{vid}.csv")
    return {"files": len(rows), "uploaded": uploaded}


def rebuild(target: Path, version: str | None, into: Path | None) -> dict[str, Any]:
    ctx = load_context(target)
    if version is None:
        try:
            version = json.loads(ctx.path(VERSION).read_text())["version_id"]
        except OSError:
            raise UserError(f"{target}: no current version; pass --version ID") from None
    assert version is not None
    fs, base = remote_fs(remote_url(ctx.root))
    started = time.perf_counter()
    matches = [p for p in fs.glob(f"{base}/mlwright/versions/{version}*.csv")]
    if len(matches) != 1:
        raise UserError(
            f"version {version}: {'not in the remote (run `mlwright push`)' if not matches else 'ambiguous prefix'}"
        )
    folder = into or ctx.path(f".mlwright/rebuild/{Path(matches[0]).stem[:12]}")
    if folder.exists() and any(folder.iterdir()):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fs.get_file(matches[0], str(folder / "manifest.csv"))
    rows = read_manifest(folder / "manifest.csv")
    bad = []
    for r in rows:
        dest = folder / (r.path.replace("s3://", "s3/", 1))
        if ".." in Path(r.path).parts:
            raise GateFailed(f"manifest row {r.path} leaves the folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        obj = f"{base}/mlwright/objects/{r.sha256[:2]}/{r.sha256[2:]}"
        if not fs.exists(obj):
            bad.append(f"missing in remote: {r.path}")
            continue
        fs.get_file(obj, str(dest))
        if sha256_file(str(dest)) != r.sha256 or dest.stat().st_size != r.size:
            bad.append(f"hash mismatch: {r.path}")
    seconds = time.perf_counter() - started
    if bad:
        raise GateFailed(f"rebuild of {version[:12]} failed verification:\n  " + "\n  ".join(bad[:20]))
    if version_id(rows) != Path(matches[0]).stem:
        raise GateFailed("the stored manifest does not hash to its version id")
    sla = ctx.params.versioning.rebuild_sla_seconds
    result = {
        "version_id": Path(matches[0]).stem,
        "files": len(rows),
        "seconds": seconds,
        "sla_seconds": sla,
        "within_sla": seconds <= sla,
        "folder": str(folder),
    }
    from mlwright.runtime.atomic import write_json

    write_json(ctx.path("reports/rebuild.json"), result)  # the evidence `mlwright gates` reads for stage 2
    return result
