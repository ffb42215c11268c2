"""The target layer names the class whose share moved most, even when none moved; a
regression target is compared as a distribution, never as thousands of one-row classes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlwright.contract.validate import ValidateParams
from mlwright.runtime.stages.validate import build_profile, distribution, target_layer

SECTION = {
    "name": "t",
    "task": "binary_classification",
    "entity": "customer_id",
    "timestamp": None,
    "target_proportion": {"max_class_proportion_deviation": 0.2},
    "label_source": "events",
    "target": "churned",
    "schema": {},
    "cross_field": [],
    "distribution": {"p_value": 0.01, "continuous": "ks", "categorical": "chi2", "reference": "previous"},
    "overrides": [],
}
CFG = ValidateParams.model_validate(SECTION)


def column(kind: str) -> dict[str, object]:
    return {
        "type": kind,
        "nullable": True,
        "min": None,
        "max": None,
        "values": None,
        "unique": False,
        "unique_with": None,
    }


def test_unchanged_shares_name_a_class_at_zero_deviation() -> None:
    counts = {"false": 800, "true": 200}
    out = target_layer({"target": counts}, {"target": dict(counts)}, CFG)
    assert out.status == "passed"
    assert out.observed["class"] == "false" and out.observed["max_relative_deviation"] == 0.0


def test_the_class_that_moved_most_is_named_and_fails_past_the_limit() -> None:
    out = target_layer({"target": {"false": 600, "true": 400}}, {"target": {"false": 800, "true": 200}}, CFG)
    assert out.status == "failed" and out.observed["class"] == "true"
    assert out.observed["max_relative_deviation"] == 1.0
    assert out.message == "class 'true' proportion moved 100.0% (limit 20%)"


def test_a_class_the_reference_never_had_fails_named_as_new_with_finite_numbers() -> None:
    out = target_layer({"target": {"a": 5, "b": 5, "c": 1}}, {"target": {"a": 5, "b": 5}}, CFG)
    assert out.status == "failed" and out.observed["new_classes"] == "c"
    assert out.message == "class 'c' absent from the reference version"
    assert all(v == v and abs(v) != float("inf") for v in out.observed.values() if isinstance(v, float))


def test_a_regression_target_is_tested_as_a_distribution_not_as_classes() -> None:
    cfg = ValidateParams.model_validate(
        {
            **SECTION,
            "task": "regression",
            "target": "price",
            "entity": "symbol",
            "timestamp": "date",
            "label_source": "prices",
            "schema": {
                "prices": {
                    name: column(kind)
                    for name, kind in (("symbol", "category"), ("date", "timestamp"), ("price", "float"))
                }
            },
        }
    )
    rng = np.random.default_rng(0)

    def profile(prices: np.ndarray) -> dict[str, object]:
        table = pa.table({"symbol": ["A"] * len(prices), "price": prices})
        return build_profile({"prices": table}, cfg)

    before = profile(np.round(rng.gamma(2.0, 50.0, 400), 2))  # nearly every price distinct
    same = profile(np.round(rng.gamma(2.0, 50.0, 420), 2))
    moved = profile(np.round(rng.gamma(2.0, 80.0, 420), 2))
    assert before["target"] is None and "prices.price" in before["columns"]
    layer = target_layer(same, before, cfg)
    assert layer.status == "skipped" and "distribution.prices.price" in layer.message
    [kept], _ = distribution(same, before, cfg)
    [shifted], _ = distribution(moved, before, cfg)
    assert (kept.id, kept.status, shifted.status) == ("distribution.prices.price", "passed", "failed")
    assert shifted.observed["test"] == "ks"
