"""Metrics named in specs, and the decision threshold that minimises expected cost.

Binary functions take 0/1 labels and one score per row; the multiclass ones take
class indices and one probability column per class."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwright.contract.metrics import THRESHOLDED
from mlwright.contract.train import Costs, Metric


def fbeta(y: np.ndarray, pred: np.ndarray, beta: float) -> float:
    tp = float(np.sum((pred == 1) & (y == 1)))
    fp = float(np.sum((pred == 1) & (y == 0)))
    fn = float(np.sum((pred == 0) & (y == 1)))
    b2 = beta * beta
    denom = (1 + b2) * tp + b2 * fn + fp
    return (1 + b2) * tp / denom if denom else 0.0


def score(name: str, y: np.ndarray, prob: np.ndarray, threshold: float = 0.5, beta: float = 1.0) -> float:
    """The spec's metric on labels `y` and scores `prob` (classification) or predictions (regression)."""
    if name == "fbeta":
        return fbeta(y, (prob >= threshold).astype(int), beta)
    if name == "f1":
        return fbeta(y, (prob >= threshold).astype(int), 1.0)
    if name == "roc_auc":
        return rank_auc(y, prob)
    if name == "pr_auc":
        return average_precision(y, prob)
    if name == "logloss":
        return log_loss(y, prob)
    if name == "rmse":
        return float(np.sqrt(np.mean((y - prob) ** 2)))
    if name == "mae":
        return float(np.mean(np.abs(y - prob)))
    raise ValueError(f"unknown metric {name}")


def average_precision(y: np.ndarray, prob: np.ndarray) -> float:
    """Area under the precision-recall steps, as scikit-learn's `average_precision_score`:
    sum over distinct scores (high to low) of the recall gained times the precision there."""
    pos = y == 1
    if pos.all() or not pos.any():
        return float("nan")
    order = np.argsort(-prob, kind="stable")
    p, hits = prob[order], pos[order]
    last = np.append(p[1:] != p[:-1], True)  # the last row of each distinct score
    tp = np.cumsum(hits)[last]
    seen = np.flatnonzero(last) + 1
    recall_gain = np.diff(np.concatenate([[0], tp])) / tp[-1]
    return float(np.sum(recall_gain * tp / seen))


def log_loss(y: np.ndarray, prob: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(prob, eps, 1 - eps)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def expected_cost(y: np.ndarray, prob: np.ndarray, threshold: float, costs: Costs) -> float:
    """Average cost per prediction at `threshold`."""
    pred = prob >= threshold
    fn = np.sum(~pred & (y == 1))
    fp = np.sum(pred & (y == 0))
    return float((fn * costs.false_negative + fp * costs.false_positive) / max(len(y), 1))


def cost_optimal_threshold(y: np.ndarray, prob: np.ndarray, costs: Costs) -> tuple[float, float]:
    """The threshold minimising expected cost, scanning every distinct score.

    Predict positive when prob >= t. Sorting scores once makes every candidate's
    FN and FP counts a cumulative sum, so the scan is O(n log n). Ties in cost
    take the highest threshold (fewest alarms)."""
    order = np.argsort(-prob, kind="stable")
    p, yy = prob[order], y[order]
    # Candidate k: the top k scores are positive (k = 0..n); threshold = p[k-1].
    tp = np.concatenate([[0], np.cumsum(yy == 1)])
    fp = np.concatenate([[0], np.cumsum(yy == 0)])
    fn = tp[-1] - tp
    cost = (fn * costs.false_negative + fp * costs.false_positive) / max(len(y), 1)
    # Only cut between distinct scores.
    valid = np.concatenate([[True], np.append(p[1:] != p[:-1], True)])
    cost = np.where(valid, cost, np.inf)
    k = int(np.argmin(cost))
    threshold = 1.0 + 1e-12 if k == 0 else float(p[k - 1])
    return threshold, float(cost[k])


def classification_report(
    y: np.ndarray, prob: np.ndarray, threshold: float, metric: Metric, costs: Costs
) -> dict[str, float]:
    pred = (prob >= threshold).astype(int)
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y == 0)))
    fn = int(np.sum((pred == 0) & (y == 1)))
    out = {
        metric.name: score(metric.name, y, prob, threshold, metric.beta),
        "roc_auc": score("roc_auc", y, prob),
        "pr_auc": score("pr_auc", y, prob),
        "logloss": score("logloss", y, prob),
        "f1": score("f1", y, prob, threshold),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "expected_cost": expected_cost(y, prob, threshold, costs),
        "expected_cost_at_0.5": expected_cost(y, prob, 0.5, costs),  # what the chosen threshold is judged against
        "positives": int(np.sum(y == 1)),
        "rows": int(len(y)),
    }
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def baseline_report(y: np.ndarray, metric: Metric, costs: Costs) -> dict[str, Any]:
    """The better of two trivial rules (everyone positive / everyone negative)."""
    best: dict[str, Any] = {}
    for const in (0.0, 1.0):
        prob = np.full(len(y), const)
        rep = {
            metric.name: score(metric.name, y, prob, 0.5, metric.beta)
            if metric.name in THRESHOLDED
            else score(metric.name, y, np.full(len(y), float(np.mean(y)))),
            "expected_cost": expected_cost(y, prob, 0.5, costs),
        }
        if not best or rep["expected_cost"] < best["expected_cost"]:
            best = {**rep, "rule": "all positive" if const else "all negative"}
    return best


def rank_auc(y: np.ndarray, x: np.ndarray) -> float:
    """ROC-AUC of one score by the Mann-Whitney rank formula (ties averaged): one sort,
    no per-threshold curve, so the leakage check stays cheap at any row count."""
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = average_ranks(x)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def rank_correlation(y: np.ndarray, x: np.ndarray) -> float:
    """Spearman's rank correlation (ties averaged): the regression leakage check's
    score, blind to any monotone transformation of the leaked target."""
    ry, rx = average_ranks(y), average_ranks(x)
    if ry.std() == 0 or rx.std() == 0:
        return float("nan")
    return float(np.corrcoef(ry, rx)[0, 1])


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (scipy's `rankdata` default)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.concatenate([[True], xs[1:] != xs[:-1]])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(x))
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


# --- multiclass: y holds class indices 0..K-1, prob one column per class ---------------
def macro_fbeta(y: np.ndarray, pred: np.ndarray, beta: float) -> float:
    """F-beta per class, averaged over the classes present in `y` or `pred`
    (scikit-learn's `average="macro"`): every class counts the same, however rare."""
    present = np.union1d(y[~np.isnan(y)] if y.dtype.kind == "f" else y, pred)
    if len(present) == 0:
        return 0.0
    return float(np.mean([fbeta((y == c).astype(int), (pred == c).astype(int), beta) for c in present]))


def one_vs_rest(fn: Any, y: np.ndarray, prob: np.ndarray) -> float:
    """`fn` (ROC-AUC, average precision) per class against the rest, averaged over the
    classes that have both positives and negatives in `y`."""
    values = [fn((y == c).astype(int), prob[:, c]) for c in range(prob.shape[1]) if 0 < np.sum(y == c) < len(y)]
    return float(np.mean(values)) if values else float("nan")


def multiclass_score(name: str, y: np.ndarray, prob: np.ndarray, beta: float = 1.0) -> float:
    """The spec's metric for K classes: F-scores macro-averaged on the most probable
    class, ROC-AUC and PR-AUC one-vs-rest macro-averaged, log-loss on the true class."""
    if name in ("fbeta", "f1"):
        return macro_fbeta(y, np.argmax(prob, axis=1), beta if name == "fbeta" else 1.0)
    if name == "roc_auc":
        return one_vs_rest(rank_auc, y, prob)
    if name == "pr_auc":
        return one_vs_rest(average_precision, y, prob)
    if name == "logloss":
        p = np.clip(prob[np.arange(len(y)), y.astype(np.int64)], 1e-15, 1.0)
        return float(-np.mean(np.log(p)))
    raise ValueError(f"unknown multiclass metric {name}")


def multiclass_report(y: np.ndarray, prob: np.ndarray, metric: Metric) -> dict[str, float]:
    pred = np.argmax(prob, axis=1)
    out = {
        metric.name: multiclass_score(metric.name, y, prob, metric.beta),
        "accuracy": float(np.mean(pred == y)) if len(y) else float("nan"),
        "f1": multiclass_score("f1", y, prob),
        "roc_auc": multiclass_score("roc_auc", y, prob),
        "pr_auc": multiclass_score("pr_auc", y, prob),
        "logloss": multiclass_score("logloss", y, prob),
        "rows": int(len(y)),
    }
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def multiclass_baseline(y: np.ndarray, n_classes: int, metric: Metric) -> dict[str, Any]:
    """The trivial rule: always the most frequent class, each class scored at its share."""
    shares = np.bincount(y.astype(np.int64), minlength=n_classes) / max(len(y), 1)
    prob = np.tile(shares, (len(y), 1))
    return {
        metric.name: round(multiclass_score(metric.name, y, prob, metric.beta), 6),
        "accuracy": round(float(np.max(shares)), 6),
        "rule": "always the most frequent class",
    }
