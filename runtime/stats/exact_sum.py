"""The exact sum of float64 values, kept so that parts add up to the whole (#18).

Why: a mean computed by parts (`sum(part sums) / n`) differs from one pass over the
whole column in the last bits, so a report computed on a cluster would differ from
one computed in one process. Here every finite value is split into its integer
mantissa and its binary exponent (read from its bits); the mantissas are added per
exponent as integers
(exactly: the float64 `bincount` below stays under 2**53 for up to 2**26 values per
call), so the sum of the parts is the exact sum of all values, and the mean taken
from it is the correctly rounded one, whatever the split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

_LOW_BITS = 26
_LOW_MASK = (1 << _LOW_BITS) - 1
_MAX_PER_CALL = 1 << 26


@dataclass(frozen=True)
class ExactSum:
    """sum(values) = Σ mantissas[e] · 2^e, plus how many values were ±inf."""

    mantissas: dict[int, int] = field(default_factory=dict)
    pos_inf: int = 0
    neg_inf: int = 0

    def __add__(self, other: ExactSum) -> ExactSum:
        merged = dict(self.mantissas)
        for e, m in other.mantissas.items():
            merged[e] = merged.get(e, 0) + m
        return ExactSum(merged, self.pos_inf + other.pos_inf, self.neg_inf + other.neg_inf)

    def mean(self, n: int) -> float:
        """The correctly rounded mean of the `n` values summed (NaN for none)."""
        if n == 0:
            return float("nan")
        if self.pos_inf or self.neg_inf:
            return float("nan") if self.pos_inf and self.neg_inf else float("inf") if self.pos_inf else float("-inf")
        if not self.mantissas:
            return 0.0
        low = min(self.mantissas)
        whole = sum(m << (e - low) for e, m in self.mantissas.items())
        return float(Fraction(whole, n) * Fraction(2) ** low)


def exact_sum(values: np.ndarray) -> ExactSum:
    """The exact sum of `values` (no NaN)."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    pos_inf = int(np.count_nonzero(v == np.inf))
    neg_inf = int(np.count_nonzero(v == -np.inf))
    v = v[finite] if not finite.all() else v
    total = ExactSum({}, pos_inf, neg_inf)
    for start in range(0, len(v), _MAX_PER_CALL):
        total = total + ExactSum(_mantissa_sums(v[start : start + _MAX_PER_CALL]))
    return total


def summed(parts: Iterable[ExactSum]) -> ExactSum:
    total = ExactSum()
    for p in parts:
        total = total + p
    return total


def _mantissa_sums(v: np.ndarray) -> dict[int, int]:
    """Read from the IEEE 754 bits: each value is mantissa · 2^exponent exactly (the
    implicit leading bit added for normal numbers, subnormals at the lowest exponent)."""
    if len(v) == 0:
        return {}
    bits = v.view(np.uint64)
    field_ = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    mant = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
    mant[field_ > 0] |= np.int64(1 << 52)
    negative = (bits >> np.uint64(63)).astype(bool)
    mant[negative] = -mant[negative]
    exponent = np.maximum(field_, 1)  # value = mant · 2^(exponent - 1075)
    high = (mant >> _LOW_BITS).astype(np.float64)  # |high| < 2^27, so < 2^53 after 2^26 adds
    low = (mant & _LOW_MASK).astype(np.float64)
    first = int(exponent.min())
    at = exponent - first
    highs = np.bincount(at, weights=high)
    lows = np.bincount(at, weights=low)
    return {
        first + i - 1075: (int(h) << _LOW_BITS) + int(lo)
        for i, (h, lo) in enumerate(zip(highs.tolist(), lows.tolist(), strict=True))
        if h or lo
    }
