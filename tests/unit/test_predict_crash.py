"""Batch scoring survives kill -9: resumed runs give every row exactly once, identical to a clean run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwright.contract.errors import GateFailed
from mlwright.runtime.serving.predict import exclusive, run_batch
from mlwright.runtime.stages import featurize, ingest, register, train, validate

from .stage_helpers import churn_build

# CI runs a reduced size; MLWRIGHT_FULL_SCALE=1 runs the 1,000,000 rows and 20 kills.
FULL = os.environ.get("MLWRIGHT_FULL_SCALE") == "1"
ROWS = 1_000_000 if FULL else 300_000
CHUNK = 25_000 if FULL else 10_000
KILLS = 20 if FULL else 6


def test_kill_9_then_resume_scores_every_row_exactly_once(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path)
    for stage in (ingest, validate, featurize, train, register):
        stage.run(ctx)
    score = pq.read_table(ctx.source_root() / "data" / "score" / "batch-000.parquet")
    reps = ROWS // score.num_rows + 1
    big = pa.concat_tables([score] * reps).slice(0, ROWS)
    big = big.set_column(0, "customer_id", pa.array([f"K{i:07d}" for i in range(ROWS)]))
    pq.write_table(big, tmp_path / "big.parquet")
    out = tmp_path / "scored"
    rng = random.Random(0)
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlwright",
                "predict",
                str(ctx.root),
                "--input",
                str(tmp_path / "big.parquet"),
                "--output",
                str(out),
                "--chunk-rows",
                str(CHUNK),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.5, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_batch(ctx.root, str(tmp_path / "big.parquet"), out, CHUNK)
    resumed = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))])
    assert len(resumed) == ROWS and resumed["row"].is_unique and resumed["customer_id"].is_unique
    clean = tmp_path / "clean"
    run_batch(ctx.root, str(tmp_path / "big.parquet"), clean, CHUNK)
    reference = pd.concat([pd.read_parquet(p) for p in sorted(clean.glob("part-*.parquet"))])
    pd.testing.assert_frame_equal(resumed.reset_index(drop=True), reference.reset_index(drop=True))
    assert not list(out.glob(".*.tmp"))


def test_two_runs_cannot_write_the_same_output(tmp_path: Path) -> None:
    with exclusive(tmp_path / "out"), pytest.raises(GateFailed, match="another"), exclusive(tmp_path / "out"):
        pass


def test_temporary_files_a_killed_run_left_are_cleared_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "._chunks.json.k1ll3d.tmp").write_text('{"half": ')
    (out / "part-000000.parquet").write_bytes(b"kept")
    with exclusive(out):
        assert sorted(p.name for p in out.iterdir()) == [".lock", "part-000000.parquet"]
