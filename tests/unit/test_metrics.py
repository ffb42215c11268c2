"""Metrics and the cost-optimal threshold, checked by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlwright.contract.train import Costs, Metric
from mlwright.runtime.stats.metrics import cost_optimal_threshold, expected_cost, fbeta


def test_threshold_matches_hand_computed_optimum() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9])
    # FN costs 10: flag every score >= 0.35 -> 2 false alarms, no miss: cost 2/6
    assert cost_optimal_threshold(y, p, Costs(false_negative=10, false_positive=1)) == (0.35, pytest.approx(2 / 6))
    # FP costs 10: flag only >= 0.8 -> one miss (0.35): cost 1/6
    assert cost_optimal_threshold(y, p, Costs(false_negative=1, false_positive=10)) == (0.8, pytest.approx(1 / 6))


def test_threshold_is_optimal_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        y = rng.integers(0, 2, 40)
        p = np.round(rng.random(40), 2)
        costs = Costs(false_negative=float(rng.integers(1, 20)), false_positive=1.0)
        t, c = cost_optimal_threshold(y, p, costs)
        brute = min(expected_cost(y, p, cand, costs) for cand in itertools.chain(np.unique(p), [1.01]))
        assert c == pytest.approx(brute) and expected_cost(y, p, t, costs) == pytest.approx(brute)


def test_fbeta_weights_recall() -> None:
    y = np.array([1, 1, 1, 1, 0, 0])
    pred = np.array([1, 1, 0, 0, 0, 0])  # precision 1, recall 0.5
    assert fbeta(y, pred, 1.0) == pytest.approx(2 / 3)
    assert fbeta(y, pred, 2.0) == pytest.approx(5 * 0.5 / (4 * 1 + 0.5))


@pytest.mark.parametrize("scores", ["continuous", "tied", "coarse"])
def test_ranking_metrics_equal_scikit_learn_and_scipy(scores: str) -> None:
    """The numpy metrics replace scikit-learn's in the training process (its import
    alone costs a second); they must agree with it to rounding, ties included."""
    from scipy.stats import rankdata
    from sklearn import metrics as skm

    from mlwright.runtime.stats.metrics import average_ranks, score

    rng = np.random.default_rng(len(scores))
    for _ in range(40):
        n = int(rng.integers(5, 4000))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        p = rng.random(n)
        if scores == "tied":
            p = np.round(p, 1)
        elif scores == "coarse":
            p = np.round(p * 3) / 3
        assert score("roc_auc", y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
        assert score("pr_auc", y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
        clipped = np.clip(p, 1e-7, 1 - 1e-7)
        assert score("logloss", y, p) == pytest.approx(skm.log_loss(y, clipped, labels=[0, 1]), abs=1e-12)
        assert average_ranks(p).tolist() == rankdata(p).tolist()


def test_ranking_metrics_are_undefined_with_one_class() -> None:
    from mlwright.runtime.stats.metrics import score

    y, p = np.ones(10, dtype=int), np.linspace(0, 1, 10)
    assert np.isnan(score("roc_auc", y, p)) and np.isnan(score("pr_auc", y, p))


def test_multiclass_metrics_equal_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, fbeta_score, log_loss, roc_auc_score

    from mlwright.runtime.stats.metrics import multiclass_baseline, multiclass_report, multiclass_score

    rng = np.random.default_rng(7)
    for n, k in ((500, 3), (300, 5), (40, 4)):
        y = rng.integers(0, k, n)
        logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
        prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        pred = prob.argmax(axis=1)
        assert multiclass_score("f1", y, prob) == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
        assert multiclass_score("fbeta", y, prob, 2.0) == pytest.approx(
            fbeta_score(y, pred, beta=2.0, average="macro"), abs=1e-12
        )
        assert multiclass_score("roc_auc", y, prob) == pytest.approx(
            roc_auc_score(y, prob, multi_class="ovr", average="macro"), abs=1e-12
        )
        ap = np.mean([average_precision_score(y == c, prob[:, c]) for c in range(k)])
        assert multiclass_score("pr_auc", y, prob) == pytest.approx(ap, abs=1e-12)
        assert multiclass_score("logloss", y, prob) == pytest.approx(log_loss(y, prob, labels=range(k)), abs=1e-12)
        report = multiclass_report(y, prob, Metric(name="f1", beta=1.0, threshold="auto"))
        assert report["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-6) and report["rows"] == n
    # a class the predictions never name still counts (scikit-learn: the union of labels)
    y, pred_prob = np.array([0, 1, 2, 2]), np.eye(3)[[0, 1, 1, 1]]
    assert multiclass_score("f1", y, pred_prob) == pytest.approx(f1_score(y, [0, 1, 1, 1], average="macro"))
    base = multiclass_baseline(np.array([0, 0, 0, 1, 2]), 3, Metric(name="roc_auc", beta=1.0, threshold="auto"))
    assert base["accuracy"] == 0.6 and base["roc_auc"] == 0.5


def test_rank_correlation_equals_scipy_spearman() -> None:
    from scipy.stats import spearmanr

    from mlwright.runtime.stats.metrics import rank_correlation

    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    for x in (y * 3 + 1, np.exp(y), y + rng.normal(size=500), np.round(rng.normal(size=500), 1)):
        assert rank_correlation(y, x) == pytest.approx(spearmanr(y, x).statistic, abs=1e-12)
    assert np.isnan(rank_correlation(y, np.ones(500)))
