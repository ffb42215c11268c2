"""What each metric is, written once: the compiler checks a spec against it and words
the ML spec with it; the runtime ranks, thresholds and judges drift by it."""

from __future__ import annotations

from dataclasses import dataclass

from .problem import Task
from .train import MetricName

CLASSIFICATION: frozenset[Task] = frozenset({"binary_classification", "multiclass_classification"})
REGRESSION: frozenset[Task] = frozenset({"regression"})


@dataclass(frozen=True)
class MetricFacts:
    words: str  # how the ML spec names it ({beta} filled in)
    higher_is_better: bool
    thresholded: bool  # scored on decisions at a threshold, not on probabilities
    tasks: frozenset[Task]  # the tasks `spec.metric` may name it for
    # the tasks `monitoring.concept.metric` may watch it for, on delayed labels joined to
    # logged predictions: the log keeps a multiclass model's chosen class and its
    # probability, not every class's, so there only label metrics can be recomputed
    concept_tasks: frozenset[Task]


METRICS: dict[MetricName, MetricFacts] = {
    "fbeta": MetricFacts("F-beta (β = {beta})", True, True, CLASSIFICATION, CLASSIFICATION),
    "f1": MetricFacts("F1", True, True, CLASSIFICATION, CLASSIFICATION),
    "roc_auc": MetricFacts("ROC-AUC", True, False, CLASSIFICATION, frozenset({"binary_classification"})),
    "pr_auc": MetricFacts(
        "PR-AUC (average precision)", True, False, CLASSIFICATION, frozenset({"binary_classification"})
    ),
    "logloss": MetricFacts("log-loss", False, False, CLASSIFICATION, frozenset()),
    "rmse": MetricFacts("RMSE", False, False, REGRESSION, REGRESSION),
    "mae": MetricFacts("MAE", False, False, REGRESSION, REGRESSION),
}

HIGHER_IS_BETTER: dict[str, bool] = {name: m.higher_is_better for name, m in METRICS.items()}
THRESHOLDED: frozenset[str] = frozenset(name for name, m in METRICS.items() if m.thresholded)


def metrics_for(task: Task) -> set[str]:
    """The metrics `spec.metric.name` may be for `task`."""
    return {name for name, m in METRICS.items() if task in m.tasks}


def concept_metrics_for(task: Task) -> set[str]:
    """The metrics `monitoring.concept.metric` may be for `task`."""
    return {name for name, m in METRICS.items() if task in m.concept_tasks}
