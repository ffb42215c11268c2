"""One source of truth for versions: compiler/constraints.txt.

The test environment is installed through it (make install-dev), the serving image
installs through it, and the compiler reads its pins from it, so the image runs the
versions the model was trained with.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from mlwright.compiler.pins import SERVING_PACKAGES, TORCH_PACKAGES, constraints, serving_pins

ROOT = Path(__file__).resolve().parents[2]


def test_the_tested_environment_is_the_constrained_one() -> None:
    pins = constraints()
    for name in SERVING_PACKAGES + TORCH_PACKAGES:
        installed = importlib.metadata.version(name)
        assert installed.split("+")[0] == pins[name], (
            f"{name}: constraints.txt says {pins[name]}, tested with {installed}"
        )


def test_every_dependency_of_pyproject_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    names = {re.match(r"[A-Za-z0-9_.\-]+", r).group(0) for r in requirements}  # type: ignore[union-attr]
    pins = constraints()
    missing = sorted(n for n in names if n.lower().replace("_", "-") not in pins)
    assert not missing, f"not in compiler/constraints.txt (run make constraints): {missing}"


def test_serving_pins_are_exact_versions() -> None:
    pins = serving_pins(torch=True)
    assert set(pins) == set(SERVING_PACKAGES + TORCH_PACKAGES)
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in pins.values()), pins
