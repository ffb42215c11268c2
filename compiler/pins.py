"""Versions the serving image pins: read from `constraints.txt`, the one list of
exact versions mlwright is installed and tested with (`make install`, CI, the image).

The file ships inside the package, so a compile is byte-identical on every machine
whatever that machine has installed; `.ci/lock` re-resolves it.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

SERVING_PACKAGES = (
    "duckdb",
    "fastapi",
    "httptools",
    "lightgbm",
    "numpy",
    "omegaconf",
    "orjson",
    "pandas",
    "pyarrow",
    "pydantic",
    "pyyaml",
    "redis",
    "rich",
    "scipy",
    "sqlglot",
    "typer",
    "uvicorn",
    "uvloop",
)
TORCH_PACKAGES = ("pydicom", "torch")


@cache
def constraints_text() -> str:
    return files("mlwright.compiler").joinpath("constraints.txt").read_text(encoding="utf-8")


@cache
def constraints() -> dict[str, str]:
    """Normalised package name -> exact version, from `constraints.txt`."""
    pins: dict[str, str] = {}
    for line in constraints_text().splitlines():
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def serving_pins(torch: bool) -> dict[str, str]:
    """The image's top-level requirements at the tested versions."""
    names = SERVING_PACKAGES + (TORCH_PACKAGES if torch else ())
    pins = constraints()
    return {name: pins[name] for name in names}
