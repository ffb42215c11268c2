"""The README's loop, run exactly as written from a copy of the checkout.

The block under "## The loop" is read out of README.md and run as one bash script
(`set -e`), so a command the README shows that does not work fails this test. The
only change is the port: 8080 becomes a free one, so a busy machine cannot fail it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def loop_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The loop") :]
    m = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert m, "README: no sh block under '## The loop'"
    return m.group(1)


def checkout_copy(dest: Path) -> None:
    """The files a fresh clone has (tracked, plus new files not ignored), in a new git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for rel in filter(None, listed):
        src = ROOT / os.fsdecode(rel)
        if src.is_file():
            target = dest / os.fsdecode(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


def test_the_readme_loop_runs_as_written(tmp_path: Path) -> None:
    work = tmp_path / "clone"
    checkout_copy(work)
    port = str(free_port())
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + loop_block().replace("8080", port)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = work / "build" / "churn"
    assert "Stages re-run: train, register, package" in proc.stdout
    assert re.search(rf"serve: (worker \d+ )?ready on http://[\d.]+:{port}\b", proc.stdout), proc.stdout
    assert '"prediction"' in proc.stdout  # the curl answer
    assert any((work / "predictions").glob("*.parquet"))
    log = (built / "logs" / "predictions.jsonl").read_text().splitlines()
    assert len(log) == 1 and json.loads(log[0])["status"] == 200
    drift = json.loads((built / "reports" / "drift.json").read_text())
    assert drift["concept"].get("waiting") is not True
