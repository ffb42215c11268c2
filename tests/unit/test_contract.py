"""The contract's shared facts, held to the code that acts on them."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from mlwright.contract.metrics import HIGHER_IS_BETTER, METRICS, concept_metrics_for, metrics_for
from mlwright.contract.monitor import Concept
from mlwright.contract.train import MetricName
from mlwright.runtime.stats.metrics import multiclass_score, score
from mlwright.runtime.stats.truth import FALSE_WORDS, TRUE_WORDS, positive_class, truth


def test_every_metric_the_contract_names_has_its_facts() -> None:
    assert set(METRICS) == set(get_args(MetricName))
    concept = set(get_args(Concept.model_fields["metric"].annotation))
    assert {
        m
        for task in ("binary_classification", "multiclass_classification", "regression")
        for m in concept_metrics_for(task)
    } == concept  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_higher_is_better_is_what_the_scorer_does(name: str) -> None:
    """A perfect model must rank better than a poor one by the table's direction."""
    rng = np.random.default_rng(0)
    if "regression" in METRICS[name].tasks:  # type: ignore[index]
        y = rng.normal(size=200)
        good, poor = score(name, y, y + 0.01), score(name, y, y + rng.normal(size=200))
    else:
        y = rng.integers(0, 2, 200)
        good, poor = score(name, y, np.clip(y * 0.9 + 0.05, 0, 1)), score(name, y, rng.random(200))
    assert (good > poor) == HIGHER_IS_BETTER[name]


def test_concept_metrics_of_a_multiclass_model_are_label_metrics() -> None:
    """The log keeps a multiclass prediction's class and its probability only."""
    assert concept_metrics_for("multiclass_classification") == {"f1", "fbeta"}
    y = np.array([0, 1, 2, 1])
    prob = np.eye(3)[y]
    assert multiclass_score("f1", y, prob, 1.0) == 1.0
    assert "logloss" in metrics_for("binary_classification") and "logloss" not in concept_metrics_for(
        "binary_classification"
    )


@pytest.mark.parametrize("spelling", [*TRUE_WORDS, "True", " YES ", "T"])
def test_a_delayed_label_reads_true_in_every_spelling_training_read_as_true(spelling: str) -> None:
    """A target written True/False trained with "True" as positive; a delayed label
    "true" (or "yes", "1") is that class, not the negative one."""
    positive = positive_class(sorted(["False", "True"]))
    assert positive == "True"
    assert truth(spelling, positive) == 1.0
    assert truth(True, positive) == 1.0 and truth(1, positive) == 1.0


@pytest.mark.parametrize("spelling", [*FALSE_WORDS, "False", "NO"])
def test_a_false_label_is_the_negative_class(spelling: str) -> None:
    assert truth(spelling, positive_class(["0", "1"])) == 0.0


def test_a_named_positive_class_is_matched_by_name() -> None:
    positive = positive_class(["benign", "malignant"])
    assert positive == "malignant"
    assert (truth("malignant", positive), truth("benign", positive), truth("yes", positive)) == (1.0, 0.0, 0.0)
    assert np.isnan(truth(None, positive))


def _field_path_exists(key: str) -> bool:
    """`featurize.online` names a field of Params (by the names params.yaml uses)."""
    from pydantic import BaseModel

    from mlwright.contract import Params

    model: type[BaseModel] = Params
    for part in key.split("."):
        by_file_name = {(f.serialization_alias or name): f for name, f in model.model_fields.items()}
        field = by_file_name.get(part)
        if field is None:
            return False
        annotation = field.annotation
        inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else (inner or [BaseModel])[0]
        )
    return True


def test_stages_name_contract_fields() -> None:
    from mlwright.compiler.api import build_plan
    from mlwright.contract.stages import STAGE_PARAMS

    assert all(_field_path_exists(key) for keys in STAGE_PARAMS.values() for key in keys)
    assert not _field_path_exists("featurize.onlin"), "the check can fail"
    plan, _ = build_plan(Path(__file__).resolve().parents[2] / "pipelines/churn/system.yaml")
    assert {s.name: s.params for s in plan.stages} == STAGE_PARAMS, "dvc.yaml declares what the contract says"
