"""The compile path stays light, and compiler/runtime never import each other."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# a seeded break of each layering rule: the lint must fail on it (a check that cannot fail proves nothing)
SEEDED = {  # seed -> (file, line put first, the contract that must break)
    "contract imports the runtime": (
        "contract/base.py",
        "from mlwright.runtime import context  # noqa\n",
        "the contract imports neither compiler nor runtime nor CLI",
    ),
    "compiler imports the runtime": (
        "compiler/units.py",
        "from mlwright.runtime import hashing  # noqa\n",
        "compiler and runtime never import each other",
    ),
    "contract imports a runtime library": (
        "contract/serve.py",
        "import numpy  # noqa\n",
        "the contract imports no runtime library",
    ),
}


def lint(tmp_path: Path, seeded: tuple[str, str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """import-linter reads packages from disk, so lint a real (non-editable) install of the tree."""
    exe = venv_tool("lint-imports")
    assert exe, "import-linter is a dev dependency"
    src, site = tmp_path / "src", tmp_path / "site"
    for part in ("cli", "contract", "compiler", "runtime", "templates"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    if seeded is not None:
        target = src / seeded[0]
        target.write_text(seeded[1] + target.read_text())
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
    return subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")], cwd=tmp_path, capture_output=True, text=True, env=env
    )


def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    proc = lint(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("seeded", sorted(SEEDED))
def test_a_seeded_layering_break_fails_the_lint(tmp_path: Path, seeded: str) -> None:
    proc = lint(tmp_path, SEEDED[seeded])
    assert proc.returncode != 0 and f"{SEEDED[seeded][2]} BROKEN" in proc.stdout, proc.stdout + proc.stderr
