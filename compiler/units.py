"""Units in specs: durations (`48h`), sizes (`5GB`) and shares (`5%`).

They stay human-written in the spec (and in `spec.resolved.yaml`); the plan
holds them as numbers (seconds, bytes, fractions) so the runtime never parses.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BYTES = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def duration_seconds(text: str) -> float:
    """`90d` -> 7776000.0; raises ValueError with the accepted forms."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a duration (use e.g. 30s, 10m, 48h, 90d, 2w)")
    return float(m.group(1)) * _SECONDS[m.group(2)]


def size_bytes(text: str) -> int:
    """`5GB` -> 5000000000; raises ValueError with the accepted forms."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a size (use e.g. 512MB, 5GB, 2GiB)")
    return int(float(m.group(1)) * _BYTES[m.group(2)])


def share(value: str | float) -> float:
    """`5%` or 0.05 -> 0.05; raises ValueError outside [0, 1]."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(f"'{value}' is not a percentage (use e.g. 5% or 0.05)")
        try:
            out = float(text[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"'{value}' is not a percentage (use e.g. 5% or 0.05)") from None
    else:
        out = float(value)
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"{value} is outside 0%..100%")
    return out
