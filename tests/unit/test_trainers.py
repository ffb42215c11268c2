"""One conformance suite over every training backend (LightGBM, PyTorch MLP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlwright.compiler.spec import DEFAULT_PARAMS
from mlwright.runtime.models.trainers import LightGBMTrainer, TrainData, load_model, trainer_for

# the spec's defaults (the trainers have none of their own), with a few written over
PARAMS = {
    "lightgbm": {**DEFAULT_PARAMS["lightgbm"], "n_estimators": 200, "early_stopping_rounds": 20},
    "torch": {**DEFAULT_PARAMS["torch"], "model": "mlp", "epochs": 15, "lr": 0.01, "hidden": 16},
}


def data(task: str = "binary_classification") -> TrainData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    X[rng.random(2000) < 0.02, 1] = np.nan  # missing values must be handled
    logit = 2.0 * X[:, 0] - 1.5 * np.nan_to_num(X[:, 1]) + 0.5 * X[:, 2]
    if task == "multiclass_classification":  # three classes from three noisy linear scores
        scores = np.column_stack([logit, -logit, 1.5 * X[:, 2]]) + rng.gumbel(size=(2000, 3))
        return TrainData(X, np.argmax(scores, axis=1).astype(np.int64), None, task, [], ["a", "b", "c", "d"], 3)
    y = (
        (rng.random(2000) < 1 / (1 + np.exp(-logit))).astype(np.int64)
        if task != "regression"
        else logit + rng.normal(0, 0.1, 2000)
    )
    return TrainData(X, y, None, task, [], ["a", "b", "c", "d"])


@pytest.fixture(params=["lightgbm", "torch"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_learns_signal_and_scores_are_probabilities(backend: str) -> None:
    from sklearn.metrics import roc_auc_score

    d = data()
    model = trainer_for(backend).fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=1)
    prob = model.predict(d.X[1700:])
    assert prob.shape == (300,) and np.all((prob >= 0) & (prob <= 1))
    assert roc_auc_score(d.y[1700:], prob) > 0.8


def test_same_seed_same_model(backend: str) -> None:
    d = data()
    a = (
        trainer_for(backend)
        .fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=3)
        .predict(d.X[1700:])
    )
    b = (
        trainer_for(backend)
        .fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=3)
        .predict(d.X[1700:])
    )
    assert np.array_equal(a, b)


def test_save_and_load_predict_the_same(backend: str, tmp_path: Path) -> None:
    d = data()
    model = trainer_for(backend).fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=1)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", backend, d.names)
    assert np.allclose(model.predict(d.X[1700:]), again.predict(d.X[1700:]), atol=1e-6)
    assert set(model.importance()) == set(d.names)


def test_regression(backend: str) -> None:
    d = data("regression")
    model = trainer_for(backend).fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=1)
    pred = model.predict(d.X[1700:])
    assert np.corrcoef(pred, d.y[1700:])[0, 1] > 0.9


def test_multiclass_gives_one_probability_per_class(backend: str, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    d = data("multiclass_classification")
    model = trainer_for(backend).fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=1)
    prob = model.predict(d.X[1700:])
    assert prob.shape == (300, 3) and np.allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    assert roc_auc_score(d.y[1700:], prob, multi_class="ovr") > 0.8
    model.save(tmp_path)
    assert np.allclose(load_model(tmp_path, backend, d.names).predict(d.X[1700:]), prob, atol=1e-6)


@pytest.mark.parametrize("task", ["binary_classification", "regression", "multiclass_classification"])
def test_single_row_scores_equal_batch_scores_after_reload(backend: str, task: str, tmp_path: Path) -> None:
    """The endpoint scores one row through `predict_one` (LightGBM: its fast single-row
    C API); it must give the batch path's score bit for bit, NaNs and categoricals included."""
    d = data(task)
    X = d.X.copy()
    X[:, 3] = np.where(np.arange(len(X)) % 7 == 0, np.nan, np.floor(np.abs(X[:, 3]) * 3))  # a categorical column
    d = TrainData(X, d.y, None, task, [3] if backend == "lightgbm" else [], d.names, d.n_classes)
    model = trainer_for(backend).fit(d, np.arange(0, 1400), np.arange(1400, 1700), PARAMS[backend], seed=1)
    model.save(tmp_path)
    loaded = load_model(tmp_path, backend, d.names)
    rows = np.vstack([d.X[1700:], [[np.nan, np.nan, np.nan, np.nan], [1e30, -1e30, 0.0, 99.0]]]).astype(np.float32)
    batch = loaded.predict(rows)
    single = np.array([loaded.predict_one(rows[i : i + 1]) for i in range(len(rows))])
    if backend == "lightgbm":
        assert np.array_equal(single, batch)
    else:  # a matmul over 1 row vs 256 rounds differently in the last bits
        assert np.allclose(single, batch, rtol=1e-5, atol=1e-6)
    assert np.array_equal(single[0], model.predict_one(rows[:1]))


def test_lightgbm_loads_without_its_scikit_learn_layer_which_stays_importable() -> None:
    import subprocess
    import sys

    code = """
import sys
from mlwright.runtime.models.trainers import _lightgbm
lgb = _lightgbm()
print('sklearn' in sys.modules, 'scipy.stats' in sys.modules)
import sklearn.metrics  # still importable by anyone who wants it
print(sklearn.metrics.roc_auc_score([0, 1], [0.2, 0.9]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "1.0"]


def test_a_lightgbm_model_is_the_same_on_any_thread_count() -> None:
    """Why a Dask worker may fit CV folds with its own thread count (compute.py): in
    deterministic, row-wise mode the model does not depend on it."""
    rng = np.random.default_rng(0)
    n = 60_000
    X = rng.normal(size=(n, 8))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=n) > 0).astype(float)
    data = TrainData(X, y, None, "binary_classification", [], [f"f{i}" for i in range(8)])
    fit, val = np.arange(40_000), np.arange(40_000, n)
    params = {"n_estimators": 80, "early_stopping_rounds": 10, "learning_rate": 0.1, "num_leaves": 63}
    scores = [LightGBMTrainer(threads).fit(data, fit, val, params, 7).predict(X[val]) for threads in (1, 2, 3)]
    assert np.array_equal(scores[0], scores[1]) and np.array_equal(scores[0], scores[2])
