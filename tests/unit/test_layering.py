"""The compile path stays light, and compiler/runtime never import each other."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import venv_tool

ROOT = Path(__file__).resolve().parents[2]
HEAVY = [
    "lightgbm",
    "torch",
    "pyarrow",
    "duckdb",
    "fastapi",
    "uvicorn",
    "dvc",
    "mlflow",
    "pandas",
    "scipy",
    "optuna",
    "sklearn",
]


def test_compile_path_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from mlwright.cli import app\n"
        "try:\n"
        f"    app(['compile', {str(ROOT / 'pipelines/churn/system.yaml')!r}, '-o', {str(tmp_path / 'b')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    """import-linter reads packages from disk, so lint a real (non-editable) install of the tree."""
    exe = venv_tool("lint-imports")
    assert exe, "import-linter is a dev dependency"
    src, site = tmp_path / "src", tmp_path / "site"
    for part in ("cli", "compiler", "runtime", "templates"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken" in proc.stdout
