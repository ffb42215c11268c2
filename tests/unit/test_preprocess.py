"""Category encoding: Arrow's vectorised path gives the same keys and codes as the
per-value rule serving uses (`transform_row`), for every column type it takes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlwright.runtime.models.preprocess import fit_preprocessor

COLUMNS = {
    "text": pa.chunked_array([["b", "a", None, "c"], ["a", "d"]]),
    "flag": pa.chunked_array([[True, False, None], [True, True, False]]),
    "code": pa.chunked_array([[3, 1, None, 22], [1, 3]]),
    "dict": pa.chunked_array([pa.array(["x", "y", None, "x", "z", "y"]).dictionary_encode()]),
    "ratio": pa.chunked_array([[1.5, 2.0, None, 1.5, 3.25, 2.0]]),
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
@pytest.mark.parametrize("encoding", ["category", "one_hot"])
def test_table_and_row_encodings_agree(name: str, encoding: str) -> None:
    col = COLUMNS[name]
    table = pa.table({name: col})
    # categories learned on the first four rows only: later rows hold unseen values
    pre = fit_preprocessor(table, [name], {name: encoding}, np.arange(4))
    batch = pre.transform_table(table)
    rows = np.vstack([pre.transform_row({name: v}) for v in col.to_pylist()])
    assert np.array_equal(batch, rows, equal_nan=True)
    seen = {v for v in col.to_pylist()[:4] if v is not None}
    assert len(pre.columns[0].categories) == len(seen)


def test_unseen_categories_are_named() -> None:
    table = pa.table({"text": COLUMNS["text"], "ratio": COLUMNS["ratio"]})
    pre = fit_preprocessor(table, ["text", "ratio"], {"text": "category", "ratio": "none"}, np.arange(4))
    assert pre.unseen({"text": "d", "ratio": 9.0}) == ["text"]  # "d" only appears after the training rows
    assert pre.unseen({"text": "a", "ratio": 9.0}) == [] and pre.unseen({"text": None}) == []
