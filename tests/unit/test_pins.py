"""The serving image pins the versions the test suite runs with."""

from __future__ import annotations

import importlib.metadata

from mlwright.compiler.pins import SERVING_PINS, TORCH_PINS


def test_pins_match_the_tested_environment() -> None:
    for name, version in {**SERVING_PINS, **TORCH_PINS}.items():
        installed = importlib.metadata.version(name)
        assert installed.split("+")[0] == version, f"{name}: pinned {version}, tested with {installed}"
