"""Manifest hashing: 2,000 files / ~1 GB (warm page cache).

mlwright's parallel hashing (the ingest manifest) vs the floor — a plain
`hashlib.sha256` loop in 2 worker processes — vs `dvc add` of the same folder,
printing MB/s and ratios; then the no-change re-hash through the state cache
(what a re-ingest of unchanged data costs).

    python benchmarks/ingest.py [--files 2000] [--mb 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mlwright.runtime.hashing import hash_files, hash_with_state


def plain(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def plain_pool(paths: list[str]) -> dict[str, str]:
    with ProcessPoolExecutor(2) as pool:
        return dict(zip(paths, pool.map(plain, paths, chunksize=16), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp()) / "data"
    folder.mkdir()
    size = a.mb * 1024 * 1024 // a.files
    block = os.urandom(size)
    paths = []
    for i in range(a.files):
        p = folder / f"f{i:05d}.bin"
        p.write_bytes(block[i % 97 :] + block[: i % 97])
        paths.append(str(p))
    total_mb = a.files * size / 1e6
    for p in paths:  # warm the page cache
        plain(p)
    assert hash_files(paths) == plain_pool(paths)
    times: dict[str, list[float]] = {"mlwright hash_files": [], "hashlib, 2 processes": []}
    for _ in range(a.rounds):
        for name, fn in (
            ("mlwright hash_files", lambda: hash_files(paths)),
            ("hashlib, 2 processes", lambda: plain_pool(paths)),
        ):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    repo = folder.parent
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "data"], cwd=repo, check=True)
    med["dvc add"] = time.perf_counter() - t
    state = repo / "state.json"
    t = time.perf_counter()
    hash_with_state(paths, state)
    first = time.perf_counter() - t
    t = time.perf_counter()
    hash_with_state(paths, state)
    again = time.perf_counter() - t
    print(f"{a.files} files, {total_mb:.0f} MB")
    for k, v in med.items():
        print(f"  {k:22s} {v:7.3f} s  {total_mb / v:8.0f} MB/s   floor/this {med['hashlib, 2 processes'] / v:5.2f}x")
    print(
        f"  ingest hashing, first: {first:.3f} s; unchanged re-hash via state cache: {again:.3f} s ({100 * again / first:.1f}% of first)"
    )
    shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    main()
