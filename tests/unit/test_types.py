"""mypy --strict over the CLI, the compiler and the runtime, as `make check` runs it:
a typed boundary that only the compiler kept was how string-keyed reads went unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_every_package_is_mypy_strict_clean(tmp_path: Path) -> None:
    out = subprocess.run(
        ["bash", str(ROOT / ".ci" / "typecheck")],
        env={**os.environ, "PYTHON": sys.executable, "MLWRIGHT_MYPY_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Success: no issues found" in out.stdout
