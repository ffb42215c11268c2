"""Stage 2: manifest format, stable version ids, tamper detection, crash safety."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlwright.contract.errors import UserError
from mlwright.runtime.context import load_context
from mlwright.runtime.stages import ingest

from .stage_helpers import churn_build


def test_manifest_format_and_version(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path)
    result = ingest.run(ctx)
    lines = ctx.path("data/manifest.csv").read_text().splitlines()
    assert lines[0] == "path,sha256,size,modified"
    paths = [ln.split(",")[0] for ln in lines[1:]]
    assert paths == sorted(paths) and paths[0] == "data/events.csv"
    for ln in lines[1:]:
        path, digest, size, modified = ln.split(",")
        assert not path.startswith("/") and ".." not in path
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and int(size) > 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", modified)
    assert re.fullmatch(r"[0-9a-f]{64}", result["version_id"])
    # the same data elsewhere (another clone, other mtimes) has the same version id
    other = tmp_path / "elsewhere"
    shutil.copytree(ctx.root.parents[1], other, ignore=shutil.ignore_patterns("build"))
    for f in (other / "pipelines" / "churn" / "data").rglob("*"):
        if f.is_file():
            os.utime(f, (1_000_000, 1_000_000))
    from mlwright.compiler import compile_system
    from mlwright.compiler.write import write_tree

    compiled = compile_system(other / "pipelines" / "churn" / "system.yaml", [], other / "b" / "churn")
    write_tree(compiled.files, compiled.out_dir)
    assert ingest.run(load_context(compiled.out_dir))["version_id"] == result["version_id"]


def _tamper(kind: str, data: Path) -> str:
    events = data / "events.csv"
    if kind == "edit":
        events.write_text(events.read_text().replace("basic", "BASIC", 1) + "x")
        return "data/events.csv"
    if kind == "same_size_mtime_restored":
        st = events.stat()
        body = bytearray(events.read_bytes())
        i = body.index(b"basic")
        body[i : i + 5] = b"bas1c"
        events.write_bytes(bytes(body))
        os.utime(events, ns=(st.st_atime_ns, st.st_mtime_ns))
        return "data/events.csv"
    if kind == "truncate":
        events.write_bytes(events.read_bytes()[:1000])
        return "data/events.csv"
    if kind == "delete":
        (data / "payments" / "part-2023.parquet").unlink()
        return "data/payments/part-2023.parquet"
    if kind == "add":
        shutil.copy(data / "payments" / "part-2023.parquet", data / "payments" / "part-2099.parquet")
        return "data/payments/part-2099.parquet"
    if kind == "rename":
        (data / "payments" / "part-2024.parquet").rename(data / "payments" / "part-2024b.parquet")
        return "data/payments/part-2024b.parquet"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["edit", "same_size_mtime_restored", "truncate", "delete", "add", "rename"])
def test_every_tampering_is_detected_with_its_path(tmp_path: Path, kind: str) -> None:
    ctx = churn_build(tmp_path, rows=400)
    ingest.run(ctx)
    assert ingest.verify(ctx) == []
    path = _tamper(kind, ctx.source_root() / "data")
    changes = ingest.verify(ctx)
    assert path in {c.path for c in changes}, changes


def test_malformed_csv_names_file_and_line(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=300)
    events = ctx.source_root() / "data" / "events.csv"
    lines = events.read_text().splitlines()
    lines[5] += ",extra,columns"
    events.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"data/events.csv: malformed CSV"):
        ingest.run(ctx)
    assert not ctx.path("data/manifest.csv").exists()


def test_empty_glob_is_an_error(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=300)
    shutil.rmtree(ctx.source_root() / "data" / "payments")
    with pytest.raises(UserError, match="source 'payments': no files match data/payments/\\*.parquet"):
        ingest.run(ctx)


def test_kill_9_during_ingest_then_rerun_gives_the_same_manifest(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=20_000)
    ingest.run(ctx)
    want = ctx.path("data/manifest.csv").read_bytes()
    shutil.rmtree(ctx.path("data"))
    shutil.rmtree(ctx.path(".mlwright"), ignore_errors=True)
    proc = subprocess.Popen([sys.executable, "-m", "mlwright.runtime.stages.ingest"], cwd=ctx.root)
    time.sleep(0.8)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(
        [sys.executable, "-m", "mlwright.runtime.stages.ingest"], cwd=ctx.root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert ctx.path("data/manifest.csv").read_bytes().split(b"\n")[0] == want.split(b"\n")[0]
    strip = lambda b: [",".join(ln.split(",")[:3]) for ln in b.decode().splitlines()]  # noqa: E731 (mtime column aside)
    assert strip(ctx.path("data/manifest.csv").read_bytes()) == strip(want)
    assert not list(ctx.path("data").glob(".*tmp*"))


def test_a_source_added_to_or_dropped_from_the_spec_is_not_changed_data(tmp_path: Path) -> None:
    """`run` refuses changed source bytes without --new-data; a source the spec adds (or
    no longer names) is a spec change instead: ingest re-runs for it anyway."""
    from .stage_helpers import recompile

    ctx = churn_build(tmp_path, rows=300)
    ingest.run(ctx)
    spec = ctx.source_root() / "system.yaml"
    original = spec.read_text()
    added = original.replace(
        "    - name: payments\n",
        "    - name: refunds\n      uri: data/events.csv\n      format: csv\n    - name: payments\n",
    )
    spec.write_text(added)
    assert ingest.verify(recompile(ctx)) == []
    spec.write_text(original)
    ctx = recompile(ctx)
    shutil.copy(ctx.source_root() / "data" / "events.csv", ctx.source_root() / "data" / "extra.csv")
    spec.write_text(original.replace("uri: data/events.csv", "uri: data/extra.csv"))
    assert [c.what for c in ingest.verify(recompile(ctx))] == ["added"], "a new file of a known source is new data"
