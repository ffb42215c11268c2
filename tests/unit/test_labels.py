"""Training and monitoring read a target the same way: the class training counted as
positive is 1 in delayed labels too, whatever its name."""

from __future__ import annotations

import math

import pyarrow as pa

from mlwright.runtime.monitor import _truth
from mlwright.runtime.train import labels


def test_named_classes_keep_the_positive_class_training_chose() -> None:
    y, positive = labels(pa.table({"d": ["benign", "malignant", "benign"]}), "d", "binary_classification")
    assert positive == "malignant" and y.tolist() == [0, 1, 0]
    assert [_truth(v, positive) for v in ["malignant", "benign", " malignant "]] == [1.0, 0.0, 1.0]


def test_yes_no_bool_and_numeric_targets() -> None:
    y, positive = labels(pa.table({"c": ["no", "yes"]}), "c", "binary_classification")
    assert positive == "yes" and y.tolist() == [0, 1]
    assert _truth("yes", positive) == 1.0 and _truth("no", positive) == 0.0
    y, positive = labels(pa.table({"c": [True, False]}), "c", "binary_classification")
    assert positive == "true" and y.tolist() == [1, 0]
    assert _truth(True, positive) == 1.0 and _truth("false", positive) == 0.0 and _truth("TRUE", positive) == 1.0
    y, positive = labels(pa.table({"c": [0, 1, 1]}), "c", "binary_classification")
    assert positive == "1" and _truth(1, positive) == 1.0 and _truth(0, positive) == 0.0
    assert math.isnan(_truth(None, positive))
    values, none = labels(pa.table({"p": [1.5, 2.0]}), "p", "regression")
    assert none is None and _truth(2.0, none) == 2.0
