"""A uniform sample of a column that each part of the column can draw alone (#18).

Why: a seeded `rng.choice` over the whole column needs the whole column in one
process; a table validated or monitored in parts on a cluster must give the same
sample, and so the same statistics, as one process.

How: each row gets a key, a 64-bit mix (splitmix64's finaliser) of its position in
the table; the sample is the rows with the `MAX_SAMPLE` smallest keys. A part keeps
its own smallest keys, and the smallest of those are the table's, so merging parts
gives the same rows in any split. The mix is a bijection of the position: no two rows
share a key, so the choice has no ties. Every row is equally likely to be picked,
whatever the values, so the sample is as uniform as `rng.choice` was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_SAMPLE = 200_000
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def row_keys(positions: np.ndarray) -> np.ndarray:
    """splitmix64 of each position: a bijection of uint64, uniform-looking in every bit."""
    with np.errstate(over="ignore"):
        z = positions.astype(np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


@dataclass(frozen=True)
class SamplePart:
    """One part's candidates: its rows with the smallest keys, at most `size` of them."""

    keys: np.ndarray  # uint64
    values: np.ndarray  # float64, no NaN


def sample_part(values: np.ndarray, positions: np.ndarray, size: int = MAX_SAMPLE) -> SamplePart:
    """The part's candidates among `values` (NaN dropped), each at its table `positions`."""
    vals = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(vals)
    vals, keys = vals[keep], row_keys(np.asarray(positions)[keep])
    if len(keys) > size:
        chosen = np.argpartition(keys, size - 1)[:size]
        keys, vals = keys[chosen], vals[chosen]
    return SamplePart(keys, vals)


def merged_sample(parts: Sequence[SamplePart], size: int = MAX_SAMPLE) -> np.ndarray:
    """The table's sample from its parts' candidates, sorted: the same in any split."""
    keys = np.concatenate([p.keys for p in parts]) if parts else np.array([], dtype=np.uint64)
    values = np.concatenate([p.values for p in parts]) if parts else np.array([], dtype=np.float64)
    if len(keys) > size:
        values = values[np.argpartition(keys, size - 1)[:size]]
    return np.sort(values)
