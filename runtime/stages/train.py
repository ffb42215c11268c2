"""Stage 5, `train`: leakage-free search, cross-validation, final fit, test evaluation.

Reads the point-in-time training table from the offline store. Splits by event
time with an embargo `gap` (random only without a timestamp); cross-validates
inside the training slice with expanding windows; searches `hpo.space` with
Optuna (seeded TPE, pruning, trials and timeout honoured) on the CV score; fits
the best parameters on the training slice with early stopping on validation;
picks the cost-optimal threshold on validation (binary; multiclass predicts the
most probable class); evaluates once on test. Writes `models/candidate/`,
`reports/metrics.json` and `reports/model_card.md`, and stashes the run (every
trial and the final fit) for the experiment tracker: `register` publishes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.metrics import HIGHER_IS_BETTER
from mlwright.contract.train import SearchSpace, TrainParams
from mlwright.runtime.atomic import replace_dir, staging_dir, write_json, write_text
from mlwright.runtime.compute import Compute, DaskEngine, Engine, LocalEngine, compute_of, open_engine
from mlwright.runtime.context import GateFailed, StageContext, UserError, say, stage_main
from mlwright.runtime.models.preprocess import Preprocessor, fit_preprocessor
from mlwright.runtime.models.trainers import DaskLightGBMTrainer, Model, TrainData, Trainer, trainer_for
from mlwright.runtime.stages.featurize import load_offline
from mlwright.runtime.stats.metrics import (
    baseline_report,
    classification_report,
    cost_optimal_threshold,
    multiclass_baseline,
    multiclass_report,
    multiclass_score,
    rank_auc,
    rank_correlation,
    score,
)
from mlwright.runtime.stats.splits import Split, expanding_folds, kfold, random_split, time_split
from mlwright.runtime.stats.truth import positive_class
from mlwright.runtime.stores.outbox import stash
from mlwright.runtime.stores.tracking import RunRecord, Tracker, Trial

CANDIDATE = "models/candidate"
LEAK_AUC = 0.99
LEAK_SAMPLE = 50_000


@dataclass
class Prepared:
    table: pa.Table
    meta: dict[str, Any]
    data: TrainData
    ts: np.ndarray | None
    split: Split
    pre: Preprocessor
    positive: str | None = None  # the target class counted as 1
    classes: list[Any] | None = None  # multiclass: the label of each class index


def labels(table: pa.Table, target: str, task: str) -> tuple[np.ndarray, str | None]:
    """The target as numbers, and for classification the class counted as positive
    (kept with the model, so delayed labels are read the same way when monitoring)."""
    col = table.column(target)
    if pc.any(pc.is_null(col)).as_py():
        raise UserError(f"target '{target}' has missing values in the training table")
    if task == "regression":
        return col.cast(pa.float64()).to_numpy(), None
    if pa.types.is_boolean(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.int64), "true"
    values = col.to_pylist()
    classes = sorted({str(v) for v in values})
    if len(classes) != 2:
        raise UserError(f"binary target '{target}' has {len(classes)} classes: {classes[:5]}")
    positive = positive_class(classes)
    return np.array([str(v) == positive for v in values], dtype=np.int64), positive


def class_labels(table: pa.Table, target: str) -> tuple[np.ndarray, list[Any]]:
    """A multiclass target as class indices, and the label of each index (sorted:
    numbers numerically, names alphabetically), kept with the model so a prediction
    is the label the data used."""
    col = table.column(target)
    if pc.any(pc.is_null(col)).as_py():
        raise UserError(f"target '{target}' has missing values in the training table")
    values = col.to_pylist()
    numeric = pa.types.is_integer(col.type)
    classes = sorted({v if numeric else str(v) for v in values})
    if len(classes) < 3:
        raise UserError(
            f"multiclass target '{target}' has {len(classes)} classes: {classes}; use task: binary_classification"
        )
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v if numeric else str(v)] for v in values], dtype=np.int64), classes


def labelled_rows(table: pa.Table, target: str, policy: str) -> pa.Table:
    """The rows that have a target: all of them, or (`missing_target: drop`) those that do."""
    missing = table.column(target).null_count
    if not missing:
        return table
    if policy != "drop":
        raise UserError(
            f"target '{target}' is missing in {missing} of {table.num_rows} training rows; "
            "set training.missing_target: drop to train on the labelled rows, or declare "
            f"expectations.schema.<source>.{target}: {{nullable: false}} so validate refuses such data"
        )
    say(f"train: {missing} of {table.num_rows} rows have no target and are left out (missing_target: drop)")
    return table.filter(pc.is_valid(table.column(target)))


def prepare(ctx: StageContext) -> Prepared:
    cfg = ctx.params.train
    store = ctx.params.featurize
    table, meta = load_offline(ctx.root, store.offline_path, store.offline_format, cfg.offline_as_of)
    table = labelled_rows(table, cfg.target, cfg.missing_target)
    if table.num_rows < 20:
        raise UserError(f"only {table.num_rows} labelled rows: too few to train")
    classes = None
    if cfg.task == "multiclass_classification":
        y, classes = class_labels(table, cfg.target)
        positive = None
    else:
        y, positive = labels(table, cfg.target, cfg.task)
    ts = pc.cast(table.column(meta["timestamp"]), pa.int64()).to_numpy() if cfg.timestamp else None
    sp = cfg.split
    if sp.strategy == "time":
        if ts is None:
            raise UserError("split.strategy time needs spec.timestamp")
        split = time_split(ts, sp.validation, sp.test, sp.gap_seconds)
    else:
        split = random_split(table.num_rows, sp.validation, sp.test, cfg.seed)
    encodings = dict(meta["encodings"])
    if cfg.backend == "torch":  # networks take one-hot categories
        encodings = {k: ("one_hot" if v != "none" else v) for k, v in encodings.items()}
        for name in meta["features"]:
            col = table.column(name)
            if pa.types.is_string(col.type) or pa.types.is_boolean(col.type):
                encodings[name] = "one_hot"
    pre = fit_preprocessor(table, meta["features"], encodings, split.train)
    images = None
    if meta.get("images"):
        images = np.load(ctx.path(ctx.params.featurize.offline_path) / meta["images"])
    data = TrainData(
        pre.transform_table(table),
        y,
        images,
        cfg.task,
        pre.categorical_indices,
        pre.output_names,
        len(classes) if classes else 1,
    )
    return Prepared(table, meta, data, ts, split, pre, positive, classes)


def leakage_checks(p: Prepared, cfg: TrainParams) -> dict[str, Any]:
    """Refuse near-perfect single features (target leakage); report entity overlap."""
    tr = p.split.train
    if len(tr) > LEAK_SAMPLE:  # an AUC above 0.99 is pinned to +-0.001 by 50k rows
        tr = np.sort(np.random.default_rng(0).choice(tr, LEAK_SAMPLE, replace=False))
    suspects = {}
    y = p.data.y[tr]
    if len(np.unique(y)) > 1:
        X = p.data.X[tr]
        for j, name in enumerate(p.data.names):
            x = X[:, j]
            ok = ~np.isnan(x)
            if ok.sum() < 10 or np.nanmin(x) == np.nanmax(x):
                continue
            value = single_feature_score(cfg.task, y[ok], x[ok], p.data.n_classes)
            if value > LEAK_AUC:
                suspects[name] = round(float(value), 4)
    if suspects:
        raise GateFailed(
            f"target leakage suspected: single-feature {LEAK_SCORES[cfg.task]} above {LEAK_AUC} for {suspects}"
        )
    ent = p.table.column(cfg.entity).to_pylist()
    train_entities = {ent[i] for i in p.split.train}
    overlap = len({ent[i] for i in p.split.test} & train_entities)
    out: dict[str, Any] = {
        "single_feature_auc_limit": LEAK_AUC,
        "single_feature_score": LEAK_SCORES[cfg.task],
        "suspect_features": {},
        "entities_in_train_and_test": overlap,
    }
    if p.ts is not None:
        out["train_end"] = int(p.ts[tr].max())
        out["validation_start"] = int(p.ts[p.split.validation].min())
        out["test_start"] = int(p.ts[p.split.test].min())
        out["gap_seconds"] = cfg.split.gap_seconds
    return out


LEAK_SCORES = {
    "binary_classification": "ROC-AUC",
    "multiclass_classification": "one-vs-one ROC-AUC on every pair of classes",
    "regression": "|Spearman rank correlation|",
}


def single_feature_score(task: str, y: np.ndarray, x: np.ndarray, n_classes: int) -> float:
    """How well one feature alone gives the target, in [0.5 or 0, 1]: 1 is a leak."""
    if task == "multiclass_classification":
        return pairwise_separation(y, x, n_classes)
    if task == "regression":
        return abs(rank_correlation(y, x))
    auc = rank_auc(y, x)
    return max(auc, 1.0 - auc)


def pairwise_separation(y: np.ndarray, x: np.ndarray, n_classes: int, stop: float = LEAK_AUC) -> float:
    """The weakest one-vs-one ROC-AUC of one feature over the pairs of classes (the
    pairs of Hand & Till's multiclass AUC). Near 1 only when the feature tells every
    pair apart, as a label copied into one number does; one-vs-rest AUC cannot see
    that leak, since the middle class sits at neither end. A feature that isolates
    one class (iris petal length and setosa) is weak on another pair. Stops at the
    first pair at or below `stop`: most features fail on the first pair."""
    worst = 1.0
    present = [c for c in range(n_classes) if np.any(y == c)]
    for a, b in itertools.combinations(present, 2):
        pair = (y == a) | (y == b)
        auc = rank_auc((y[pair] == a).astype(np.int64), x[pair])
        worst = min(worst, max(auc, 1.0 - auc))
        if worst <= stop:
            break
    return worst


def fixed_params(cfg: TrainParams) -> dict[str, Any]:
    return dict(cfg.params)


def fold_score(cfg: TrainParams, model: Model, data: TrainData, idx: np.ndarray) -> float:
    prob = model.predict(data.X[idx], data.images[idx] if data.images is not None else None)
    m = cfg.metric
    if data.n_classes > 1:
        return multiclass_score(m.name, data.y[idx], prob, m.beta)
    threshold = 0.5
    if m.name in ("fbeta", "f1"):
        threshold = _threshold(cfg, data.y[idx], prob)
    return score(m.name, data.y[idx], prob, threshold, m.beta)


def _threshold(cfg: TrainParams, y: np.ndarray, prob: np.ndarray) -> float:
    m = cfg.metric
    if m.threshold != "auto":
        return float(m.threshold)
    return cost_optimal_threshold(y, prob, cfg.costs)[0]


@dataclass(frozen=True)
class FoldJob:
    """One CV fit and its score: plain values, so a Dask worker runs it as this process would."""

    cfg: TrainParams
    params: dict[str, Any]
    fit: np.ndarray
    val: np.ndarray
    threads: int | None = None  # on a worker: its threads (the model is the same on any count)


@dataclass(frozen=True)
class FoldResult:
    score: float
    iterations: int | None  # boosting rounds early stopping chose (LightGBM); None for torch


def fold_result(job: FoldJob, data: TrainData) -> FoldResult:
    model = trainer_for(job.cfg.backend, job.threads).fit(data, job.fit, job.val, job.params, job.cfg.seed)
    return FoldResult(fold_score(job.cfg, model, data, job.val), getattr(model, "iterations", None))


@dataclass(frozen=True)
class FoldRunner:
    """Where a trial's folds are fitted: one after another here, or all at once on the
    cluster. Either way the scores are reported to the pruner in fold order, so a trial
    is pruned at the same fold and the search takes the same path on every engine."""

    engine: Engine
    data: Any  # the training matrix, sent to the workers once

    @classmethod
    def local(cls, p: Prepared) -> FoldRunner:
        return cls(LocalEngine(), p.data)


def cv_results(
    cfg: TrainParams, p: Prepared, params: dict[str, Any], runner: FoldRunner, trial: Any = None
) -> list[FoldResult]:
    if cfg.cv.strategy == "time_series":
        folds = expanding_folds(p.split.train, p.ts, cfg.cv.folds, cfg.split.gap_seconds)
    else:
        folds = kfold(p.split.train, cfg.cv.folds, cfg.seed)
    jobs = [
        (k, FoldJob(cfg, params, fit, val))
        for k, (fit, val) in enumerate(folds)
        if cfg.task == "regression" or len(np.unique(p.data.y[fit])) >= 2
    ]
    results: Iterator[FoldResult]
    if runner.engine.name == "local":  # one at a time: a pruned trial stops early
        results = (fold_result(job, runner.data) for _, job in jobs)
    else:
        on_workers = [dataclasses.replace(job, threads=runner.engine.threads) for _, job in jobs]
        results = iter(runner.engine.map(fold_result, on_workers, "fold", False, data=runner.data))
    done: list[FoldResult] = []
    for (k, _), result in zip(jobs, results, strict=False):
        done.append(result)
        if trial is not None:
            import optuna

            trial.report(float(np.nanmean([r.score for r in done])), k)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return done


def cv_iterations(results: list[FoldResult]) -> int | None:
    """The rounds a fit without early stopping takes: the median of the folds' choices."""
    counts = [r.iterations for r in results if r.iterations is not None]
    return int(np.median(counts)) if counts else None


def search(
    cfg: TrainParams, p: Prepared, trials: list[Any], runner: FoldRunner | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Optuna over `hpo.space`; returns the best params and a summary."""
    hpo = cfg.hpo
    higher = HIGHER_IS_BETTER[cfg.metric.name]
    runner = runner or FoldRunner.local(p)
    if not hpo.space:  # fixed parameters: no search, and no Optuna import
        results = cv_results(cfg, p, fixed_params(cfg), runner)
        scores = [r.score for r in results]
        return fixed_params(cfg), {
            "trials": 0,
            "cv_mean": float(np.mean(scores)),
            "cv_std": float(np.std(scores)),
            "cv_scores": scores,
            "cv_iterations": cv_iterations(results),
        }
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=cfg.seed)
        if hpo.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=cfg.seed)
    )
    study = optuna.create_study(
        direction="maximize" if higher else "minimize",
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5),
    )

    def objective(trial: Any) -> float:
        params = {**fixed_params(cfg), **suggest(trial, hpo.space)}
        results = cv_results(cfg, p, params, runner, trial)
        scores = [r.score for r in results]
        value = float(np.mean(scores)) if scores else float("nan")
        trial.set_user_attr("cv_iterations", cv_iterations(results))
        trial.set_user_attr("cv_std", float(np.std(scores)) if scores else float("nan"))
        trial.set_user_attr("cv_scores", scores)
        trials.append(Trial(f"trial-{trial.number}", params, {"cv_mean": value, "cv_std": trial.user_attrs["cv_std"]}))
        say(f"train: trial {trial.number + 1}/{hpo.trials} cv {cfg.metric.name} = {value:.4f}")
        return value

    def pruned(study: Any, trial: Any) -> None:  # a pruned trial is counted too: no gaps in the numbering
        if trial.state == optuna.trial.TrialState.PRUNED:
            say(f"train: trial {trial.number + 1}/{hpo.trials} pruned (its first folds trailed the median)")

    study.optimize(objective, n_trials=hpo.trials, timeout=hpo.timeout_seconds, catch=(), callbacks=[pruned])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise UserError("hyperparameter search finished no trial (timeout too short?)")
    best = study.best_trial
    summary = {
        "trials": len(study.trials),
        "completed": len(done),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "best_trial": best.number,
        "cv_mean": float(cast(float, best.value)),  # a completed trial has its value
        "cv_std": best.user_attrs["cv_std"],
        "cv_scores": best.user_attrs["cv_scores"],
        "cv_iterations": best.user_attrs["cv_iterations"],
    }
    return {**fixed_params(cfg), **best.params}, summary


def suggest(trial: Any, space: dict[str, SearchSpace]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, s in sorted(space.items()):
        if s.type == "int":
            out[name] = trial.suggest_int(name, s.low, s.high, log=s.log, step=1 if s.log else s.step)
        elif s.type == "float":
            out[name] = trial.suggest_float(name, s.low, s.high, log=s.log)
        else:
            out[name] = trial.suggest_categorical(name, list(s.choices))
    return out


def distributed_fit(cfg: TrainParams, compute: Compute, p: Prepared) -> bool:
    """The final fit runs in lightgbm.dask: a Dask engine, LightGBM, and more training
    rows than `compute.distributed_fit_rows`."""
    return compute.engine == "dask" and cfg.backend == "lightgbm" and len(p.split.train) > compute.distributed_fit_rows


def final_trainer(cfg: TrainParams, compute: Compute, engine: Engine, p: Prepared) -> Trainer:
    if distributed_fit(cfg, compute, p) and isinstance(engine, DaskEngine):
        return DaskLightGBMTrainer(engine.client)
    return trainer_for(cfg.backend)


def distributed_params(best: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """No early stopping in a distributed fit (lightgbm#7009): the rounds CV chose."""
    return {**best, "n_estimators": summary.get("cv_iterations") or best["n_estimators"], "early_stopping_rounds": 0}


def final_fit(
    cfg: TrainParams, p: Prepared, params: dict[str, Any], trainer: Trainer | None = None
) -> tuple[Model, dict[str, Any]]:
    """Fit on train (early stopping on validation), threshold on validation, score on test."""
    trainer = trainer or trainer_for(cfg.backend)
    model = trainer.fit(p.data, p.split.train, p.split.validation, params, cfg.seed)
    imgs = p.data.images

    def predict(idx: np.ndarray) -> np.ndarray:
        return model.predict(p.data.X[idx], imgs[idx] if imgs is not None else None)

    val_prob, test_prob = predict(p.split.validation), predict(p.split.test)
    yv, yt = p.data.y[p.split.validation], p.data.y[p.split.test]
    m = cfg.metric
    if cfg.task == "regression":
        metrics: dict[str, Any] = {
            "threshold": None,
            "validation": {m.name: score(m.name, yv, val_prob)},
            "test": {m.name: score(m.name, yt, test_prob), "rows": int(len(yt))},
            "baselines_test": regression_baselines(p, yt, m.name, cfg.entity),
        }
        metrics["baseline_test"] = strongest(metrics["baselines_test"], m.name)
        return model, metrics
    if p.data.n_classes > 1:
        metrics = {
            "threshold": None,  # the most probable class
            "validation": multiclass_report(yv, val_prob, m),
            "test": multiclass_report(yt, test_prob, m),
            "baseline_test": multiclass_baseline(yt, p.data.n_classes, m),
            "slices": slice_metrics(cfg, p, test_prob, None),
        }
        return model, metrics
    threshold = _threshold(cfg, yv, val_prob)
    metrics = {
        "threshold": round(float(threshold), 8),
        "validation": classification_report(yv, val_prob, threshold, m, cfg.costs),
        "test": classification_report(yt, test_prob, threshold, m, cfg.costs),
        "baseline_test": baseline_report(yt, m, cfg.costs),
        "slices": slice_metrics(cfg, p, test_prob, threshold),
    }
    return model, metrics


def regression_baselines(p: Prepared, y_test: np.ndarray, name: str, entity: str) -> list[dict[str, Any]]:
    """Every simple rule that fits the data: the training constant, and for timed rows
    the entity's last known value (a model that loses to it is no forecast)."""
    rules = [regression_baseline(p.data.y[p.split.train], y_test, name)]
    if p.ts is not None and entity in p.table.column_names:
        last = last_value_per_entity(
            [str(e) for e in p.table.column(entity).to_pylist()], p.ts, p.data.y, p.split.test, p.split.train
        )
        if last is not None:
            rules.append({name: round(score(name, y_test, last), 6), "rule": "the entity's last known value"})
    return rules


def last_value_per_entity(
    entities: list[str], ts: np.ndarray, y: np.ndarray, rows: np.ndarray, train: np.ndarray
) -> np.ndarray | None:
    """For each of `rows`, the target of the same entity's latest row strictly before it
    (the training mean where the entity has none); None if no row has a predecessor."""
    order = np.lexsort((np.arange(len(ts)), ts))
    previous: dict[str, float] = {}
    before = np.full(len(ts), np.nan)
    i = 0
    while i < len(order):  # rows at the same time do not see each other
        j = i
        while j < len(order) and ts[order[j]] == ts[order[i]]:
            before[order[j]] = previous.get(entities[order[j]], np.nan)
            j += 1
        for k in order[i:j]:
            previous[entities[k]] = float(y[k])
        i = j
    out = before[rows]
    if np.isnan(out).all():
        return None
    return np.where(np.isnan(out), float(np.mean(y[train])), out)


def strongest(rules: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The baseline that is hardest to beat."""
    return max(rules, key=lambda r: r[name]) if HIGHER_IS_BETTER[name] else min(rules, key=lambda r: r[name])


def regression_baseline(y_train: np.ndarray, y_test: np.ndarray, name: str) -> dict[str, Any]:
    """The trivial rule: one constant learned on the training slice, the one that is
    best for the metric (the mean for RMSE, the median for MAE)."""
    constant = float(np.median(y_train) if name == "mae" else np.mean(y_train))
    rule = f"always the training {'median' if name == 'mae' else 'mean'} ({constant:.4g})"
    return {name: round(score(name, y_test, np.full(len(y_test), constant)), 6), "rule": rule}


def slice_metrics(cfg: TrainParams, p: Prepared, test_prob: np.ndarray, threshold: float | None) -> dict[str, Any]:
    """Test metrics per value of each slice column (`threshold` None: multiclass)."""
    out: dict[str, Any] = {}
    m = cfg.metric
    test = p.split.test
    for col in cfg.slices:
        values = [str(v) for v in p.table.column(col).take(pa.array(test)).to_pylist()]
        out[col] = {}
        for v in sorted(set(values)):
            mask = np.array([x == v for x in values])
            y = p.data.y[test][mask]
            if threshold is None:  # multiclass
                out[col][v] = {
                    "rows": int(mask.sum()),
                    **{
                        k: round(multiclass_score(k, y, test_prob[mask], m.beta), 6)
                        for k in dict.fromkeys((str(m.name), "f1"))
                    },
                    "accuracy": round(float(np.mean(np.argmax(test_prob[mask], axis=1) == y)), 6),
                }
                continue
            out[col][v] = {
                "rows": int(mask.sum()),
                m.name: round(score(m.name, y, test_prob[mask], threshold, m.beta), 6),
                "f1": round(score("f1", y, test_prob[mask], threshold), 6),
                "roc_auc": round(score("roc_auc", y, test_prob[mask]), 6),
            }
    return out


def spec_hash(ctx: StageContext) -> str:
    return hashlib.sha256(json.dumps(ctx.params.train.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def save_candidate(
    ctx: StageContext, p: Prepared, model: Model, params: dict[str, Any], metrics: dict[str, Any]
) -> Path:
    final = ctx.path(CANDIDATE)
    stage = staging_dir(final)
    model.save(stage)
    write_json(
        stage / "model.json",
        {
            "backend": ctx.params.train.backend,
            "task": ctx.params.train.task,
            "params": params,
            "seed": ctx.params.train.seed,
            "threshold": metrics["threshold"],
            "positive_class": p.positive,
            "classes": p.classes,
            "preprocessor": p.pre.to_json(),
            "features": p.meta["features"],
            "feature_names": p.data.names,
            "image": p.meta.get("image"),
            "dataset_version": p.meta["dataset_version"],
            "feature_set_hash": p.meta["feature_set_hash"],
            "train_spec_hash": spec_hash(ctx),
        },
    )
    replace_dir(stage, final)
    return final


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.params.train
    started = time.perf_counter()
    p = prepare(ctx)
    leakage = leakage_checks(p, cfg)
    trials: list[Any] = []
    compute = compute_of(ctx)
    with open_engine(compute, "train") as engine:
        best, search_summary = search(cfg, p, trials, FoldRunner(engine, engine.share(p.data)))
        if distributed_fit(cfg, compute, p):
            best = distributed_params(best, search_summary)
            say(
                f"train: final fit of {len(p.split.train)} rows across the Dask workers (lightgbm.dask, "
                f"{best['n_estimators']} rounds: the CV folds' median early-stopping choice)"
            )
        model, metrics = final_fit(cfg, p, best, final_trainer(cfg, compute, engine, p))
    report = {
        "metric": cfg.metric.model_dump(mode="json"),
        "params": best,
        "search": search_summary,
        "final_fit": "lightgbm.dask" if distributed_fit(cfg, compute, p) else "one process",
        "threshold": metrics["threshold"],
        "validation": metrics["validation"],
        "test": metrics["test"],
        "baseline_test": metrics.get("baseline_test"),
        "baselines_test": metrics.get(
            "baselines_test", [metrics["baseline_test"]] if metrics.get("baseline_test") else []
        ),
        "slices": metrics.get("slices", {}),
        "feature_importance": model.importance(),
        "leakage": leakage,
        "split_rows": {"train": len(p.split.train), "validation": len(p.split.validation), "test": len(p.split.test)},
        "dataset_version": p.meta["dataset_version"],
        "feature_set_hash": p.meta["feature_set_hash"],
        "train_spec_hash": spec_hash(ctx),
    }
    folder = save_candidate(ctx, p, model, best, metrics)
    record = RunRecord(
        "train",
        {"stage": "train", "dataset_version": p.meta["dataset_version"]},
        {
            **best,
            "dataset_version": p.meta["dataset_version"],
            "train_spec_hash": report["train_spec_hash"],
            "backend": cfg.backend,
        },
        {
            **{f"test_{k}": v for k, v in metrics["test"].items() if isinstance(v, float)},
            "cv_mean": search_summary["cv_mean"],
        },
        {"model": folder},
        trials,
    )
    # published by `register` (or `mlwright run`), which start MLflow anyway: see outbox.py
    report["tracking_record"] = stash(ctx.root, record) if Tracker(cfg.tracking, ctx.root).enabled else None
    write_json(ctx.path("reports/metrics.json"), report)
    write_text(ctx.path("reports/model_card.md"), model_card(ctx, report))
    name = cfg.metric.name
    say(
        f"train: test {name} = {report['test'][name]:.4f} (baseline {(report['baseline_test'] or {}).get(name, float('nan')):.4f}); {time.perf_counter() - started:.1f}s"
    )
    return report


CANDIDATE_STATUS = (
    "Status: trained, not yet registered (`register` registers it only if a re-run reproduces it; "
    "see reports/register.json and the registered bundle's copy of this card)."
)


def baseline_lines(r: dict[str, Any], name: str) -> list[str]:
    """Every simple rule's test score, and a plain sentence when the model does not beat one."""
    rules = r.get("baselines_test") or []
    lines = [f"- baseline `{b['rule']}`: test {name} {b[name]:.4f}" for b in rules if name in b]
    lower = not HIGHER_IS_BETTER[name]
    beaten = [b for b in rules if name in b and (r["test"][name] >= b[name] if lower else r["test"][name] <= b[name])]
    if beaten:
        lines.append(
            f"- **The model does not beat {', '.join(repr(b['rule']) for b in beaten)} on the test set**: "
            "a simpler rule predicts as well or better."
        )
    return lines


def model_card(ctx: StageContext, r: dict[str, Any]) -> str:
    name = r["metric"]["name"]
    split = ctx.params.train.split
    leak_score = LEAK_SCORES[ctx.params.train.task]
    lines = [
        f"# Model card: {ctx.params.train.name}",  # register adds the version it registers under
        "",
        f"{CANDIDATE_STATUS}",
        "",
        f"- data version: `{r['dataset_version']}`",
        f"- feature set: `{r['feature_set_hash'][:16]}`; features: {', '.join(r['feature_importance'])}",
        f"- backend: {ctx.params.train.backend}; params: `{json.dumps(r['params'], sort_keys=True)}`",
        f"- rows: train {r['split_rows']['train']}, validation {r['split_rows']['validation']}, test {r['split_rows']['test']}",
        "",
        "## Metrics",
        f"- CV {name}: {r['search']['cv_mean']:.4f} ± {r['search']['cv_std']:.4f} over {len(r['search']['cv_scores'])} folds",
        f"- test {name}: {r['test'][name]:.4f}"
        + (
            f" (strongest simple baseline: {r['baseline_test'][name]:.4f}, {r['baseline_test']['rule']})"
            if r.get("baseline_test")
            else ""
        ),
        *baseline_lines(r, name),
    ]
    if r["threshold"] is not None:
        lines.append(
            f"- threshold: {r['threshold']:.4f} (minimises expected cost on validation; test cost per prediction {r['test']['expected_cost']:.4f})"
        )
    lines += [
        "",
        "## Leakage checks",
        f"- time-ordered slices with a {split.gap_seconds}s embargo: passed"
        if split.strategy == "time"
        else "- random split (no event time): slices disjoint by row",
        f"- no single feature above {leak_score} {LEAK_AUC}: passed",
        f"- entities seen in both train and test: {r['leakage']['entities_in_train_and_test']}",
        "",
    ]
    if r["slices"]:
        lines.append("## Slices (test)")
        for col, vals in r["slices"].items():
            lines.append(f"- {col}: " + ", ".join(f"{v}: {s[name]:.3f} (n={s['rows']})" for v, s in vals.items()))
        lines.append("")
    return "\n".join(lines)


def remove_candidate(ctx: StageContext) -> None:
    shutil.rmtree(ctx.path(CANDIDATE), ignore_errors=True)


if __name__ == "__main__":
    stage_main("train", run)
