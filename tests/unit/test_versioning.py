"""Push, pull and verified rebuilds through a local remote and an S3-compatible server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlwright.contract.errors import GateFailed
from mlwright.runtime.commands.pipeline import pull, push, run_pipeline
from mlwright.runtime.commands.rebuild import rebuild
from mlwright.runtime.stages import ingest

from .stage_helpers import churn_build


def _ingested(tmp: Path, *overrides: str):  # type: ignore[no-untyped-def]
    """A project whose ingest stage ran through DVC (so dvc.lock knows its outputs)."""
    ctx = churn_build(tmp, *overrides, rows=400)
    run_pipeline(ctx.root, stage="ingest", force=False, new_data=False, on_line=lambda line: None)
    return ctx


def _remote_written(build: Path, url_part: str) -> list[str]:
    """DVC config files (repo, local) that hold the remote's URL."""
    from mlwright.runtime.commands.pipeline import existing_dvc_root

    root = existing_dvc_root(build.resolve())
    assert root is not None
    return [p.name for p in (root / ".dvc").glob("config*") if url_part in p.read_text()]


def test_push_pull_rebuild_through_the_local_remote(tmp_path: Path) -> None:
    ctx = _ingested(tmp_path)
    version = ingest.version_id(ingest.read_manifest(ctx.path("data/manifest.csv")))
    assert "sources: 4 files (4 new)" in push(ctx.root)
    assert "(0 new)" in push(ctx.root)  # content-addressed: nothing twice
    assert not _remote_written(ctx.root, ".mlwright/remote")
    shutil.rmtree(ctx.path("data/snapshots"))
    pull(ctx.root)
    assert (ctx.path("data/snapshots") / "events.parquet").is_file()
    report = rebuild(ctx.root, version[:12], tmp_path / "rebuilt")
    assert report["files"] == 4 and report["within_sla"] and report["version_id"] == version
    assert (tmp_path / "rebuilt" / "data" / "events.csv").read_bytes() == (
        ctx.source_root() / "data" / "events.csv"
    ).read_bytes()
    # a corrupted object in the remote fails verification, naming the file
    remote = ctx.root / ".mlwright" / "remote" / "mlwright" / "objects"
    obj = next(p for p in remote.rglob("*") if p.is_file() and p.stat().st_size > 1000)
    obj.write_bytes(obj.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(GateFailed, match="hash mismatch"):
        rebuild(ctx.root, version, tmp_path / "again")


def test_push_pull_rebuild_through_s3(tmp_path: Path, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWRIGHT_REMOTE", "s3://mlwright-test/churn")
    ctx = _ingested(tmp_path)
    # DVC's S3 remote takes the endpoint from its own config
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "--local", "-f", "-d", "mlwright", "s3://mlwright-test/churn"],
        cwd=ctx.root.parents[1],
        check=False,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "modify", "--local", "mlwright", "endpointurl", s3_server],
        cwd=ctx.root.parents[1],
        check=True,
        capture_output=True,
    )
    out = push(ctx.root)
    assert "sources: 4 files (4 new)" in out
    import boto3

    keys = [
        o["Key"] for o in boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket="mlwright-test")["Contents"]
    ]
    assert any(k.startswith("churn/mlwright/versions/") for k in keys) and any("/files/md5/" in k for k in keys)
    report = rebuild(ctx.root, None, tmp_path / "from-s3")
    assert report["files"] == 4
    assert os.environ["MLWRIGHT_REMOTE"].startswith("s3://")


@pytest.mark.parametrize("store", ["gcs_bucket", "azure_container"])
def test_push_pull_rebuild_through_gcs_and_azure(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gs:// and azure:// remotes against real emulators (gcp-storage-emulator, Azurite):
    DVC pushes the pipeline's outputs and mlwright the sources; a rebuild from the
    remote is verified; a tampered object is named."""
    import fsspec

    remote = request.getfixturevalue(store)
    monkeypatch.setenv("MLWRIGHT_REMOTE", f"{remote}/churn")
    ctx = _ingested(tmp_path)
    version = ingest.version_id(ingest.read_manifest(ctx.path("data/manifest.csv")))
    out = push(ctx.root)
    assert "sources: 4 files (4 new)" in out and "files pushed" in out, out
    # the URL came from the environment: it is handed to DVC, never written to its config
    assert not _remote_written(ctx.root, remote.split("://")[1])
    fs = fsspec.filesystem("gs" if remote.startswith("gs://") else "az", skip_instance_cache=True)
    keys = fs.find("mlwright-test/churn")
    assert any("/mlwright/versions/" in k for k in keys) and any("/files/md5/" in k for k in keys)
    shutil.rmtree(ctx.path("data/snapshots"))
    pull(ctx.root)
    assert (ctx.path("data/snapshots") / "events.parquet").is_file()
    report = rebuild(ctx.root, None, tmp_path / "from-remote")
    assert report["files"] == 4 and report["version_id"] == version
    obj = max(fs.find("mlwright-test/churn/mlwright/objects"), key=lambda k: fs.size(k))
    body = fs.cat(obj)
    fs.pipe(obj, body[:-10] + b"0123456789")
    with pytest.raises(GateFailed, match="hash mismatch"):
        rebuild(ctx.root, version, tmp_path / "again")


def test_s3_sources_are_ingested_and_verified(tmp_path: Path, s3_server: str) -> None:
    import boto3

    ctx = churn_build(tmp_path, rows=400)
    data = ctx.source_root() / "data"
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.upload_file(str(data / "events.csv"), "mlwright-test", "raw/events.csv")
    for part in sorted((data / "payments").glob("*.parquet")):
        s3.upload_file(str(part), "mlwright-test", f"raw/payments/{part.name}")
    shutil.rmtree(data)
    spec = ctx.source_root() / "system.yaml"
    spec.write_text(
        spec.read_text()
        .replace("uri: data/events.csv", "uri: s3://mlwright-test/raw/events.csv")
        .replace("uri: data/payments/*.parquet", "uri: s3://mlwright-test/raw/payments/*.parquet")
    )
    from .stage_helpers import recompile

    ctx = recompile(ctx)
    run_pipeline(ctx.root, stage="ingest", force=False, new_data=False, on_line=lambda line: None)
    rows = ingest.read_manifest(ctx.path("data/manifest.csv"))
    assert [r.path for r in rows][:2] == [
        "s3://mlwright-test/raw/events.csv",
        "s3://mlwright-test/raw/payments/part-2023.parquet",
    ]
    assert ingest.verify(ctx) == []
    body = s3.get_object(Bucket="mlwright-test", Key="raw/events.csv")["Body"].read()
    s3.put_object(Bucket="mlwright-test", Key="raw/events.csv", Body=body.replace(b"basic", b"BASIC", 1))
    changes = ingest.verify(ctx)
    assert [(c.path, c.what) for c in changes] == [("s3://mlwright-test/raw/events.csv", "modified")]
    with pytest.raises(GateFailed, match="modified: s3://mlwright-test/raw/events.csv"):
        run_pipeline(ctx.root, stage=None, force=False, new_data=False, on_line=lambda line: None)
