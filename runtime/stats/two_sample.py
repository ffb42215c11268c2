"""Two-sample statistics for validation (layer B) and drift monitoring.

- KS: the exact statistic D (drift checks on large windows get it without
  sorting the window, see ecdf_grid). The p-value: scipy's exact
  method below 10,000 rows a side; `kstwo.sf(D, round(n*m/(n+m)))` as
  `ks_2samp` does up to an effective size of 100,000; above that the asymptotic
  Kolmogorov distribution with Stephens' correction, within 0.5% of `ks_2samp`
  for p > 1e-6 there, and microseconds instead of up to 0.5 s per column.
- Chi-square: a two-sample test of homogeneity on the 2 x k table of category
  counts (`chi2_contingency`), so reference counts are not treated as exact.
- PSI: bins are reference quantiles with open-ended outer bins; empty bins take
  a fixed epsilon. Binning and epsilon are reported beside every PSI value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.runtime.stats.sample import merged_sample, sample_part

MAX_EXACT_N = 10_000
ASYMPTOTIC_EN = 100_000


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float
    effect: float  # KS: D; chi-square: Cramér's V
    effect_name: str


def ks_two_sample(ref_sorted: np.ndarray, cur: np.ndarray, *, cur_is_sorted: bool = False) -> TestResult:
    """KS test of `cur` against an already sorted reference sample."""
    from scipy import stats

    cur_sorted = cur if cur_is_sorted else np.sort(cur)
    n1, n2 = len(ref_sorted), len(cur_sorted)
    if max(n1, n2) <= MAX_EXACT_N:
        res = stats.ks_2samp(ref_sorted, cur_sorted, method="auto")
        return TestResult(float(res.statistic), float(res.pvalue), float(res.statistic), "ks_d")
    # Both ECDFs only step at data points: evaluate each at the other's points (right-continuous).
    at_ref = np.abs(np.arange(1, n1 + 1) / n1 - np.searchsorted(cur_sorted, ref_sorted, side="right") / n2)
    at_cur = np.abs(np.searchsorted(ref_sorted, cur_sorted, side="right") / n1 - np.arange(1, n2 + 1) / n2)
    # with ties, only the last copy of a value holds the ECDF's true level
    last_ref = np.append(ref_sorted[1:] != ref_sorted[:-1], True)
    last_cur = np.append(cur_sorted[1:] != cur_sorted[:-1], True)
    d = float(max(at_ref[last_ref].max(initial=0.0), at_cur[last_cur].max(initial=0.0)))
    return TestResult(d, ks_p_value(d, n1, n2), d, "ks_d")


def ks_p_value(d: float, n1: int, n2: int) -> float:
    """`ks_2samp`'s asymptotic p-value for D (past MAX_EXACT_N rows on a side)."""
    from scipy import stats

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    if en < ASYMPTOTIC_EN:
        p = float(stats.kstwo.sf(d, np.round(en)))
    else:
        from scipy.special import kolmogorov

        root = np.sqrt(en)
        p = float(kolmogorov((root + 0.12 + 0.11 / root) * d))
    return float(np.clip(p, 0.0, 1.0))


def ks_and_shares(ref_sorted: np.ndarray, edges: np.ndarray, cur: np.ndarray) -> tuple[TestResult, np.ndarray]:
    """KS of `cur` (no NaN) against the sorted reference and `cur`'s PSI bin shares: on the
    reference's grid (no sort of `cur`, see ecdf_grid) when the samples are large."""
    from mlwright.runtime.stats.ecdf_grid import ks_and_bin_counts

    grid = None
    if len(ref_sorted) and max(len(ref_sorted), len(cur)) > MAX_EXACT_N:
        grid = ks_and_bin_counts(ref_sorted, cur, edges)
    if grid is None:
        cur_sorted = np.sort(cur)
        return ks_two_sample(ref_sorted, cur_sorted, cur_is_sorted=True), bin_shares_sorted(cur_sorted, edges)
    d, counts = grid
    return TestResult(d, ks_p_value(d, len(ref_sorted), len(cur)), d, "ks_d"), counts / len(cur)


def chi2_two_sample(ref: dict[str, int], cur: dict[str, int]) -> TestResult | None:
    """Chi-square homogeneity test on reference vs current counts; None if < 2 categories."""
    from scipy.stats import chi2_contingency

    cats = sorted(k for k in set(ref) | set(cur) if ref.get(k, 0) + cur.get(k, 0) > 0)
    if len(cats) < 2 or sum(cur.values()) == 0 or sum(ref.values()) == 0:
        return None
    table = np.array([[ref.get(c, 0) for c in cats], [cur.get(c, 0) for c in cats]], dtype=np.float64)
    stat, p, _dof, _exp = chi2_contingency(table, correction=False)
    v = float(np.sqrt(stat / (table.sum() * (min(table.shape) - 1))))
    return TestResult(float(stat), float(p), v, "cramers_v")


def quantile_edges(ref_sorted: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at reference quantiles (ties collapse to one edge)."""
    if len(ref_sorted) == 0:
        return np.array([])
    qs = np.quantile(ref_sorted, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares per bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def bin_shares_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`bin_shares` of an already sorted sample: one binary search per edge."""
    n = len(sorted_values)
    cuts = np.concatenate([[0], np.searchsorted(sorted_values, edges, side="right"), [n]])
    counts = np.diff(cuts)
    return counts / n if n else counts.astype(float)


def psi_from_shares(ref: np.ndarray, cur: np.ndarray, epsilon: float = 1e-4) -> float:
    r = np.where(np.asarray(ref, float) <= 0, epsilon, ref)
    c = np.where(np.asarray(cur, float) <= 0, epsilon, cur)
    return float(np.sum((c - r) * np.log(c / r)))


def category_shares(ref: dict[str, int], cur: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    cats = sorted(set(ref) | set(cur))
    r = np.array([ref.get(c, 0) for c in cats], float)
    c = np.array([cur.get(c, 0) for c in cats], float)
    return r / max(r.sum(), 1), c / max(c.sum(), 1)


def sample_sorted(values: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """The sorted values (NaN dropped), or past MAX_SAMPLE a uniform sample of them drawn
    by row position (see sample.py: the same rows however the column is split)."""
    at = np.arange(len(values)) if positions is None else positions
    return merged_sample([sample_part(values, at)])


def numeric_profile(values: np.ndarray, bins: int, positions: np.ndarray | None = None) -> dict[str, Any]:
    """`values`' profile; `positions` are the rows' places in their table (default: in `values`)."""
    return profile_of_sample(len(values), sample_sorted(values, positions), bins)


def profile_of_sample(n: int, s: np.ndarray, bins: int) -> dict[str, Any]:
    """The profile of `n` values from their sorted sample: one process or summed parts."""
    edges = quantile_edges(s, bins)
    return {
        "kind": "numeric",
        "n": int(n),
        "mean": float(s.mean()) if len(s) else None,
        "std": float(s.std()) if len(s) else None,
        "edges": edges.tolist(),
        "shares": bin_shares(s, edges).tolist() if len(s) else [],
        "sample": s,
    }


def categorical_profile(values: list[Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for v in values:
        if v is not None:
            key = ("true" if v else "false") if isinstance(v, bool) else str(v)
            counts[key] = counts.get(key, 0) + 1
    return {"kind": "categorical", "n": len(values), "counts": dict(sorted(counts.items()))}


def added_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Category counts of several parts as one, by category."""
    total: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items()))


def category_plot(ref: dict[str, int], cur: dict[str, int]) -> dict[str, Any]:
    """Shares per category of both sides, for the reports' bar charts."""
    cats = sorted(set(ref) | set(cur))
    rt, ct = sum(ref.values()) or 1, sum(cur.values()) or 1
    return {
        "labels": cats,
        "reference": [ref.get(c, 0) / rt for c in cats],
        "current": [cur.get(c, 0) / ct for c in cats],
    }


def histogram(ref: np.ndarray, cur: np.ndarray, bins: int = 20) -> dict[str, list[float]]:
    """Shared-edge histograms (shares) for the reports' plots."""
    edges = plot_edges(ref, cur, bins)
    if edges is None:
        return {"edges": [], "reference": [], "current": []}
    return plot_shares(edges, plot_counts(ref, edges), plot_counts(cur, edges))


def plot_edges(ref: np.ndarray, cur_sample: np.ndarray, bins: int = 20) -> np.ndarray | None:
    """A plot's bin edges: equal widths between the 0.5 % and 99.5 % quantiles of both
    samples (a current sample past MAX_SAMPLE rows: see sample.py); None with no values."""
    both = np.concatenate([ref, cur_sample]) if len(cur_sample) else ref
    if len(both) == 0:
        return None
    lo, hi = np.quantile(both, [0.005, 0.995])
    if hi <= lo:
        lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
    out: np.ndarray = np.linspace(lo, hi, bins + 1)
    return out


def plot_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Values per plot bin, the outer bins taking what lies beyond them: parts add up."""
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), edges)
    out: np.ndarray = counts
    return out


def plot_shares(edges: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> dict[str, list[float]]:
    return {
        "edges": edges.round(6).tolist(),
        "reference": (ref / max(ref.sum(), 1)).round(6).tolist(),
        "current": (cur / max(cur.sum(), 1)).round(6).tolist(),
    }
