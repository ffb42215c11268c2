"""Training and monitoring read a target the same way: the class training counted as
positive is 1 in delayed labels too, whatever its name."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlwright.contract.monitor import Concept
from mlwright.runtime.context import UserError
from mlwright.runtime.stages.train import class_labels, labels
from mlwright.runtime.stats.truth import truth


def test_named_classes_keep_the_positive_class_training_chose() -> None:
    y, positive = labels(pa.table({"d": ["benign", "malignant", "benign"]}), "d", "binary_classification")
    assert positive == "malignant" and y.tolist() == [0, 1, 0]
    assert [truth(v, positive) for v in ["malignant", "benign", " malignant "]] == [1.0, 0.0, 1.0]


def test_yes_no_bool_and_numeric_targets() -> None:
    y, positive = labels(pa.table({"c": ["no", "yes"]}), "c", "binary_classification")
    assert positive == "yes" and y.tolist() == [0, 1]
    assert truth("yes", positive) == 1.0 and truth("no", positive) == 0.0
    y, positive = labels(pa.table({"c": [True, False]}), "c", "binary_classification")
    assert positive == "true" and y.tolist() == [1, 0]
    assert truth(True, positive) == 1.0 and truth("false", positive) == 0.0 and truth("TRUE", positive) == 1.0
    y, positive = labels(pa.table({"c": [0, 1, 1]}), "c", "binary_classification")
    assert positive == "1" and truth(1, positive) == 1.0 and truth(0, positive) == 0.0
    assert math.isnan(truth(None, positive))
    values, none = labels(pa.table({"p": [1.5, 2.0]}), "p", "regression")
    assert none is None and truth(2.0, none) == 2.0


def test_multiclass_labels_and_predictions_become_class_codes() -> None:
    from mlwright.runtime.monitoring.monitor import class_code, judge_window, metric_value

    classes = ["barbera", "barolo", "grignolino"]
    assert [class_code(v, classes) for v in ["barolo", " grignolino", "barbera"]] == [1.0, 2.0, 0.0]
    assert class_code("nebbiolo", classes) == -1.0  # a class the model cannot predict counts against it
    assert math.isnan(class_code(None, classes))
    assert [class_code(v, [3, 5, 7]) for v in [7, "5", 3.0, 4]] == [2.0, 1.0, 0.0, -1.0]
    y = np.array([0.0, 1.0, 2.0, 2.0, -1.0])
    pred = np.array([0.0, 1.0, 2.0, 1.0, 2.0])
    from sklearn.metrics import f1_score

    assert metric_value("f1", y, pred, pred, 1.0, multiclass=True) == pytest.approx(f1_score(y, pred, average="macro"))
    cfg = Concept(labels=None, key=(), metric="f1", max_relative_drop=0.05, min_labels=3)
    assert judge_window("f1", y, pred, pred, 0.95, cfg, 1.0, multiclass=True)["alert"]


def test_multiclass_labels_are_read_by_class_name(tmp_path: Path) -> None:
    from mlwright.runtime.monitoring.monitor import read_labels

    (tmp_path / "labels.csv").write_text("wine id,cultivar\nW1,barolo\nW2,barbera\nW3,nebbiolo\n")
    out = read_labels(
        str(tmp_path / "labels.csv"), "wine_id", None, "cultivar", {"wine id": "wine_id"}, None, ["barbera", "barolo"]
    )
    assert out["y"] == [1.0, 0.0, -1.0] and out["entity"] == ["W1", "W2", "W3"]


def test_multiclass_targets_become_class_indices_in_label_order() -> None:
    y, classes = class_labels(pa.table({"t": [10, 9, 2, 9]}), "t")
    assert classes == [2, 9, 10] and y.tolist() == [2, 1, 0, 1]  # numbers numerically, not as text
    y, classes = class_labels(pa.table({"t": ["setosa", "virginica", "versicolor"]}), "t")
    assert classes == ["setosa", "versicolor", "virginica"] and y.tolist() == [0, 2, 1]
    with pytest.raises(UserError, match="has 2 classes.*binary_classification"):
        class_labels(pa.table({"t": ["a", "b", "a"]}), "t")


def test_a_multiclass_prediction_log_is_read_as_class_codes(tmp_path: Path) -> None:
    import json

    from mlwright.runtime.monitoring.monitor import read_log

    records = [
        {"request_id": f"r{i}", "status": 200, "timestamp": "2026-01-01T00:00:00Z", "prediction": label,
         "probability": 0.9, "inputs": {"wine_id": f"W{i}", "proline": 700.0 + i}}
        for i, label in enumerate(["barolo", "barbera", "grignolino"])
    ]  # fmt: skip
    log = tmp_path / "predictions.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    reference = {"proline": {"kind": "numeric"}}
    cur = read_log(log, reference, "wine_id", ["barbera", "barolo", "grignolino"])
    assert cur.prediction.tolist() == [1.0, 0.0, 2.0] and cur.entity == ["W0", "W1", "W2"]
    assert cur.columns["proline"].tolist() == [700.0, 701.0, 702.0]


def test_a_declared_label_key_joins_rows_that_share_entity_and_time(tmp_path: Path) -> None:
    """Two flights from one airport in the same hour share (entity, time): only a
    declared key (monitoring.concept.key: [flight_id]) tells their labels apart. A key
    that names two labels, or a file without the key, is refused."""
    from mlwright.runtime.monitoring.monitor import Current, join_labels, key_rows, read_labels

    (tmp_path / "labels.csv").write_text(
        "origin,hour,flight_id,delayed\nJFK,2024-01-01T10:00:00,7,1\nJFK,2024-01-01T10:00:00,8,0\n"
    )
    lab = read_labels(str(tmp_path / "labels.csv"), "origin", "hour", "delayed", key=["flight_id"])
    assert lab is not None
    batch = pa.table({"origin": ["JFK", "JFK", "JFK"], "flight_id": [8.0, 7.0, 9.0]})
    cur = Current({}, None, ["JFK"] * 3, [None] * 3, np.zeros(3), np.zeros(3), 3, key_rows(batch, ["flight_id"], "b"))
    y = join_labels(cur, lab, "labels.csv")
    assert y[:2].tolist() == [0.0, 1.0] and math.isnan(y[2]), "flight 8 got its own label, 9 none yet"
    with pytest.raises(UserError, match="the join would be ambiguous"):  # without the key: refused, not guessed
        join_labels(
            Current({}, np.array([0, 0, 0]), ["JFK"] * 3, [None] * 3, None, None, 3), lab | {"ts": [0, 0], "key": None}
        )
    (tmp_path / "labels.csv").write_text("origin,flight_id,delayed\nJFK,7,1\nJFK,7,0\n")
    twice = read_labels(str(tmp_path / "labels.csv"), "origin", None, "delayed", key=["flight_id"])
    assert twice is not None
    with pytest.raises(UserError, match=r"1 declared \(monitoring.concept.key\) key\(s\) name more than one label"):
        join_labels(cur, twice, "labels.csv")
    no_key = Current({}, None, ["JFK"] * 3, ["r1", "r2", "r3"], np.zeros(3), np.zeros(3), 3)  # a log without the key
    with pytest.raises(UserError, match="does not carry the declared label key"):
        join_labels(no_key, lab, "labels.csv")
    with pytest.raises(UserError, match=r"lacks the label key column\(s\) tail_number"):
        read_labels(str(tmp_path / "labels.csv"), "origin", None, "delayed", key=["tail_number"])
