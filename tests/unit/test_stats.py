"""Statistics against their references: PSI values, scipy's KS and chi-square, null calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlwright.contract.monitor import Covariate
from mlwright.runtime.monitoring.monitor import feature_drift
from mlwright.runtime.stats.two_sample import (
    bin_shares,
    chi2_two_sample,
    ks_two_sample,
    numeric_profile,
    psi_from_shares,
    quantile_edges,
)

COV = Covariate(metric="psi", threshold=0.2, bins=10, ks_p_value=0.01, epsilon=1e-4, min_rows=50)


def test_psi_reference_values() -> None:
    assert psi_from_shares(np.array([0.25] * 4), np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.22822, abs=1e-5)
    assert psi_from_shares(np.array([0.5, 0.5]), np.array([0.6, 0.4])) == pytest.approx(0.04055, abs=1e-5)
    assert psi_from_shares(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == pytest.approx(0.0, abs=1e-12)


def test_psi_constant_column_is_zero_and_empty_is_insufficient() -> None:
    ref = numeric_profile(np.full(500, 3.0), 10)
    assert feature_drift(ref, np.full(400, 3.0), COV)["psi"] == pytest.approx(0.0, abs=1e-9)
    out = feature_drift(ref, np.array([], dtype=float), COV)
    assert out["status"] == "insufficient" and out["psi"] is None


@pytest.mark.parametrize("n1,n2", [(300, 200), (5000, 8000), (40_000, 25_000), (400_000, 300_000)])
def test_ks_equals_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1)
    a, b = rng.normal(size=n1), rng.normal(0.03, 1.1, size=n2)
    ours = ks_two_sample(np.sort(a), b)
    ref = stats.ks_2samp(a, b)
    assert ours.statistic == ref.statistic
    if ref.pvalue > 1e-6:
        assert ours.p_value == pytest.approx(ref.pvalue, rel=0.005)


def test_chi_square_equals_chi2_contingency_with_unseen_category() -> None:
    ref, cur = {"a": 500, "b": 300, "c": 200}, {"a": 420, "b": 350, "c": 180, "new": 50}
    ours = chi2_two_sample(ref, cur)
    assert ours is not None
    table = np.array([[500, 300, 200, 0], [420, 350, 180, 50]])
    stat, p, _dof, _ = stats.chi2_contingency(table, correction=False)
    assert ours.statistic == pytest.approx(stat) and ours.p_value == pytest.approx(p)
    assert chi2_two_sample({"a": 5}, {"a": 7}) is None


def test_ks_null_false_alarm_rate_matches_p_value() -> None:
    rng = np.random.default_rng(0)
    alarms = sum(
        ks_two_sample(np.sort(rng.normal(size=1000)), rng.normal(size=1000)).p_value < 0.01 for _ in range(1000)
    )
    assert alarms <= 25  # expected 10; binomial 99.99% bound


def test_psi_simulation_null_and_shift() -> None:
    rng = np.random.default_rng(1)
    ref = numeric_profile(rng.normal(size=20_000), 10)
    null = [feature_drift(ref, rng.normal(size=1000), COV)["psi"] for _ in range(1000)]
    assert sum(p > 0.2 for p in null) == 0
    shifted = [feature_drift(ref, rng.normal(0.7, 1.0, size=1000), COV)["psi"] for _ in range(200)]
    assert all(p > 0.2 for p in shifted)


def test_reference_quantile_bins_are_open_ended() -> None:
    edges = quantile_edges(np.sort(np.arange(100.0)), 4)
    shares = bin_shares(np.array([-1e9, 1e9]), edges)
    assert shares[0] == 0.5 and shares[-1] == 0.5


def test_ks_with_ties_equals_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.poisson(3.0, 30_000).astype(float), rng.poisson(3.1, 20_000).astype(float)
    ours = ks_two_sample(np.sort(a), b)
    ref = stats.ks_2samp(a, b)
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-15)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=0.005)
