"""The grid KS (no sort of the current sample) equals `ks_2samp` bit for bit, and its PSI
bin counts equal a binary search per value, on shapes that stress the grid: ties,
discrete values, heavy tails, infinities, outliers that stretch the range, and
samples that do not overlap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlwright.contract.monitor import Covariate
from mlwright.runtime.stats.ecdf_grid import ks_and_bin_counts
from mlwright.runtime.stats.two_sample import quantile_edges


def shapes(kind: str, rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "normal":
        return rng.normal(size=n), rng.normal(0.02, 1.05, size=m)
    if kind == "discrete":
        return rng.integers(0, 5, size=n).astype(float), rng.integers(0, 6, size=m).astype(float)
    if kind == "lognormal":
        return rng.lognormal(0, 2, size=n), rng.lognormal(0.1, 2, size=m)
    if kind == "rounded":
        return np.round(rng.normal(size=n), 2), np.round(rng.normal(0.01, 1, size=m), 2)
    if kind == "outliers":
        r, c = rng.normal(size=n), rng.normal(size=m)
        r[:3], c[:2], c[2:4] = 1e300, np.inf, -np.inf
        return r, c
    if kind == "disjoint":
        return rng.normal(size=n), rng.normal(8, 1, size=m)
    if kind == "float32":
        return rng.normal(size=n), rng.normal(size=m).astype(np.float32)
    raise AssertionError(kind)


KINDS = ["normal", "discrete", "lognormal", "rounded", "outliers", "disjoint", "float32"]


@pytest.mark.parametrize("kind", KINDS)
def test_grid_ks_and_bins_equal_full_sort(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    for _ in range(15):
        n, m = int(rng.integers(10_001, 60_000)), int(rng.integers(1, 60_000))
        ref, cur = shapes(kind, rng, n, m)
        ref_sorted = np.sort(ref)
        edges = quantile_edges(ref_sorted, 10)
        out = ks_and_bin_counts(ref_sorted, cur, edges)
        assert out is not None
        d, counts = out
        assert d == stats.ks_2samp(ref_sorted, cur).statistic
        expected = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
        assert counts.tolist() == expected.tolist()


def test_grid_declines_a_constant_reference() -> None:
    assert ks_and_bin_counts(np.full(20_000, 3.0), np.arange(5.0), np.array([3.0])) is None


def test_feature_drift_on_a_large_window_reports_the_full_sort_values() -> None:
    from mlwright.runtime.monitoring.monitor import feature_drift
    from mlwright.runtime.stats.two_sample import bin_shares, numeric_profile, psi_from_shares

    rng = np.random.default_rng(7)
    profile = numeric_profile(rng.normal(size=300_000), 10)
    cur = rng.normal(0.1, 1, size=80_000)
    cur[::97] = np.nan
    out = feature_drift(
        profile, cur, Covariate(metric="psi", threshold=0.2, bins=10, ks_p_value=0.01, epsilon=1e-4, min_rows=50)
    )
    kept = cur[~np.isnan(cur)]
    assert out["rows"] == len(kept)
    assert out["statistic"] == round(stats.ks_2samp(profile["sample"], kept).statistic, 6)
    edges = np.asarray(profile["edges"])
    assert out["psi"] == round(psi_from_shares(np.asarray(profile["shares"]), bin_shares(kept, edges), 1e-4), 6)
