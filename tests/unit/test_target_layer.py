"""The target layer names the class whose share moved most, even when none moved."""

from __future__ import annotations

from mlwright.runtime.validate import target_layer

CFG = {"target_proportion": {"max_class_proportion_deviation": 0.2}, "label_source": "events", "target": "churned"}


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


def test_a_class_the_reference_never_had_is_an_infinite_move() -> None:
    out = target_layer({"target": {"a": 5, "b": 5, "c": 1}}, {"target": {"a": 5, "b": 5}}, CFG)
    assert out.status == "failed" and out.observed["class"] == "c"
