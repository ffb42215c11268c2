"""Honest baselines: for timed rows the entity's last known value, point in time."""

from __future__ import annotations

import numpy as np

from mlwright.runtime.stages.train import last_value_per_entity, strongest


def test_last_value_is_the_same_entitys_latest_strictly_earlier_target() -> None:
    entities = ["a", "b", "a", "a", "b", "c"]
    ts = np.array([1, 1, 2, 2, 3, 4])
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    rows = np.array([2, 3, 4, 5])
    train = np.array([0, 1])
    got = last_value_per_entity(entities, ts, y, rows, train)
    # rows 2 and 3 share a time: neither sees the other; c has no history -> the training mean
    assert got is not None and got.tolist() == [10.0, 10.0, 20.0, 15.0]


def test_no_history_at_all_is_no_baseline() -> None:
    assert (
        last_value_per_entity(["a", "b"], np.array([1, 2]), np.array([1.0, 2.0]), np.array([1]), np.array([0])) is None
    )


def test_the_strongest_baseline_depends_on_the_metric_direction() -> None:
    rules = [{"rmse": 3.0, "rule": "mean"}, {"rmse": 2.0, "rule": "last"}]
    assert strongest(rules, "rmse")["rule"] == "last"
    assert strongest([{"roc_auc": 0.5, "rule": "x"}, {"roc_auc": 0.6, "rule": "y"}], "roc_auc")["rule"] == "y"
