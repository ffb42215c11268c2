"""Cold `mlwright compile` as a process vs the floor: a process that only imports
the compile path's own dependencies (what no implementation can avoid).

    python benchmarks/compile.py [--rounds 10]

Interleaved rounds, median of each; prints both and the ratio (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import hydra.core.override_parser.overrides_parser, omegaconf, pydantic, jinja2, ruamel.yaml, sqlglot, typer, rich, yaml"


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp()) / "churn"
    runs: dict[str, list[float]] = {"mlwright compile": [], "import floor": []}
    compile_cmd = [sys.executable, "-m", "mlwright", "compile", "pipelines/churn/system.yaml", "-o", str(out)]
    floor_cmd = [sys.executable, "-c", FLOOR]
    timed(compile_cmd, ROOT)  # warm the page cache, not the interpreter
    for _ in range(a.rounds):
        runs["mlwright compile"].append(timed(compile_cmd, ROOT))
        runs["import floor"].append(timed(floor_cmd, ROOT))
    med = {k: statistics.median(v) for k, v in runs.items()}
    for k, v in med.items():
        print(f"{k:18s} median {v * 1000:7.1f} ms over {a.rounds} runs")
    print(f"ratio compile / floor: {med['mlwright compile'] / med['import floor']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
