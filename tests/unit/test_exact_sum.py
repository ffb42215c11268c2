"""The exact sum (#18): parts add up to the whole, and the mean is the correctly rounded one."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mlwright.runtime.stats.exact_sum import exact_sum, summed


def exact_mean(values: np.ndarray) -> float:
    return float(sum(Fraction(float(x)) for x in values) / len(values))


def test_the_mean_is_the_correctly_rounded_mean_of_awkward_values() -> None:
    rng = np.random.default_rng(9)
    values = np.concatenate(
        [
            rng.normal(size=3000) * 1e8,
            rng.exponential(size=500) * 1e-12,
            [0.0, -0.0, 5e-324, -7e-310, 1e300, -1e300, 0.1],
        ]
    )
    rng.shuffle(values)
    assert exact_sum(values).mean(len(values)) == exact_mean(values)
    # numpy's pairwise sum is not exact here: the point of the module
    assert any(float(np.mean(values[:k])) != exact_mean(values[:k]) for k in (1000, 2000, 3507))


def test_any_split_gives_the_same_sum() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(50, 20, size=100_000)
    whole = exact_sum(values).mean(len(values))
    for cuts in ([0, 1, 50_000, 100_000], [0, 33_333, 33_334, 99_999, 100_000]):
        parts = [exact_sum(values[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
        assert summed(parts).mean(len(values)) == whole
    assert whole == exact_mean(values)


def test_infinities_and_nothing() -> None:
    assert exact_sum(np.array([np.inf, 1.0])).mean(2) == np.inf
    assert exact_sum(np.array([-np.inf, 1.0])).mean(2) == -np.inf
    assert math.isnan((exact_sum(np.array([np.inf])) + exact_sum(np.array([-np.inf]))).mean(2))
    assert math.isnan(exact_sum(np.array([])).mean(0))
    assert exact_sum(np.array([0.0, -0.0])).mean(2) == 0.0
