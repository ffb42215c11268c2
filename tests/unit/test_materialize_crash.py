"""Materialisation killed with SIGKILL half way, then re-run: the online store equals the latest offline rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from mlwright.runtime.stores.online_store import SqliteOnlineStore

N = 600_000
WRITER = """
import sys
from pathlib import Path
from mlwright.runtime.stores.online_store import SqliteOnlineStore
rows = ((f"e{i:07d}", 1_000 + i % 7, {"spend": float(i), "plan": "basic", "n": i}) for i in range(int(sys.argv[2])))
store = SqliteOnlineStore(Path(sys.argv[1]), ttl_seconds=86400)
print("start", flush=True)
store.write(rows)
print("done", flush=True)
"""


def _committed(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return int(con.execute("SELECT count(*) FROM features").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_9_mid_materialisation_then_rerun_converges(tmp_path: Path) -> None:
    db = tmp_path / "online.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(N)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:  # kill once part of it is committed
        if db.exists() and _committed(db) >= 100_000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = SqliteOnlineStore(db, 86400)
    written_before = partial.count()
    partial.close()
    assert 0 < written_before < N, "the kill should land mid-way; raise N if the machine is faster"
    done = subprocess.run([sys.executable, "-c", WRITER, str(db), str(N)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    store = SqliteOnlineStore(db, 86400)
    assert store.count() == N
    sample = [f"e{i:07d}" for i in range(0, N, 997)]
    got = store.get(sample)
    mismatches = sum(
        g != {"spend": float(i), "plan": "basic", "n": i} for g, i in zip(got, range(0, N, 997), strict=True)
    )
    assert mismatches == 0
    again = subprocess.run([sys.executable, "-c", WRITER, str(db), str(N)], capture_output=True, text=True)
    assert again.returncode == 0
    assert store.write([("e0000001", 1_000 + 1 % 7, {"spend": 1.0, "plan": "basic", "n": 1})]) == 0
