"""Versions the serving image pins: the versions mlwright is tested with.

Kept here (not read from the compiling machine) so a build is byte-identical on
every machine; tests/unit/test_pins.py fails when the test environment drifts.
"""

SERVING_PINS: dict[str, str] = {
    "duckdb": "2.0.1",
    "fastapi": "0.165.0",
    "httptools": "0.9.0",
    "lightgbm": "4.7.0",
    "numpy": "2.4.6",
    "omegaconf": "2.3.1",
    "orjson": "3.13.0",
    "pandas": "3.1.1",
    "pyarrow": "25.0.1",
    "pydantic": "2.13.4",
    "pyyaml": "6.0.3",
    "redis": "8.1.0",
    "rich": "15.0.0",
    "scipy": "1.17.1",
    "sqlglot": "30.30.0",
    "typer": "0.29.2",
    "uvicorn": "0.54.0",
    "uvloop": "0.23.0",
}
TORCH_PINS: dict[str, str] = {"torch": "2.13.0", "pydicom": "3.0.2"}
