"""Stage 7, `mlwright monitor`: covariate drift, concept drift, slices, alerts, dashboard.

Covariate drift compares each input feature in the current data (a JSONL
prediction log or a batch file) with the reference profile stored in the
registered bundle: PSI on the reference's quantile bins (open-ended outer bins,
empty bins = `epsilon`), KS for numeric and a two-sample chi-square for
categorical features, per `window` of event time. Concept drift joins delayed
labels to the predictions and compares the spec's metric per window with the
registered baseline; a window with too few labels is reported, never judged.
Alerts go to the configured sinks once per window (deduplicated).
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlwright.contract.metrics import HIGHER_IS_BETTER
from mlwright.contract.monitor import Concept, Covariate, MonitorParams
from mlwright.runtime.atomic import write_json
from mlwright.runtime.compute import Engine, LocalEngine, compute_of, open_engine
from mlwright.runtime.context import StageContext, UserError
from mlwright.runtime.data.sources import event_times_us
from mlwright.runtime.models.bundle import ConceptBaseline, SliceBaseline, load_reference
from mlwright.runtime.monitoring.alerts import DriftAlert, ModelOf, send_alerts
from mlwright.runtime.monitoring.covariate import Part, covariates
from mlwright.runtime.monitoring.current import Current, class_code, key_text
from mlwright.runtime.monitoring.prediction_log import LogPart, is_prediction_log, log_ranges, read_log, read_log_part
from mlwright.runtime.monitoring.windows import windows_of
from mlwright.runtime.reports import render_html
from mlwright.runtime.serving.predictor import Predictor
from mlwright.runtime.stats.metrics import fbeta, macro_fbeta, score
from mlwright.runtime.stats.truth import truth


# --- inputs ---------------------------------------------------------------------
def _column(values: list[Any], numeric: bool) -> Any:
    if numeric:
        return np.array([np.nan if v is None or isinstance(v, str) else float(v) for v in values], dtype=np.float64)
    return [None if v is None else ("true" if v is True else "false" if v is False else str(v)) for v in values]


def read_batch(
    pattern: str,
    predictor: Predictor,
    reference: dict[str, Any],
    timestamp: str | None,
    build: Path | None = None,
    key: list[str] | None = None,
) -> Current:
    """A batch of inputs: scored here with the registered model, so labels can be joined."""
    from mlwright.runtime.data.imaging import hounsfield, preprocess, read_dicom
    from mlwright.runtime.serving.predict import batch_features, input_files, read_input

    files = input_files(pattern, "--current")
    table, dicoms = read_input(files, predictor)
    images = None
    cols_extra: dict[str, list[float]] = {}
    if dicoms and predictor.image:
        imgs, means, stds = [], [], []
        for f in dicoms:
            hu = hounsfield(read_dicom(f, str(f)), str(f))
            imgs.append(preprocess(hu, predictor.image))
            means.append(float(hu.mean()))
            stds.append(float(hu.std()))
        images = np.stack(imgs)
        cols_extra = {"image_mean": means, "image_std": stds}
    rows = table.to_pylist()
    features = batch_features(predictor, table, build, dicoms)
    if features is not None:  # as of each row's time: the metric is the one training measured
        preds = predictor.predict_features(features.to_pylist(), images)
    else:
        preds = predictor.predict_batch(rows, images)
    cols: dict[str, Any] = {}
    for name, prof in reference.items():  # every feature the batch can show: inputs, and with
        if name in cols_extra:  # event times the model's own features as of each row's time
            values = cols_extra[name]
        elif features is not None and name in features.column_names:
            values = features.column(name).to_pylist()
        elif name in table.column_names:
            values = table.column(name).to_pylist()
        else:
            continue
        cols[name] = _column(values, prof["kind"] == "numeric")
    ts = None
    if timestamp and timestamp in table.column_names:
        ts = event_times_us(table.column(timestamp), f"{pattern}: {timestamp}").to_numpy(zero_copy_only=False)
    entity = predictor.serving.entity
    return Current(
        cols,
        ts,
        [None if r.get(entity) is None else str(r.get(entity)) for r in rows],
        [None] * len(rows),
        np.array([class_code(p.prediction, predictor.classes) for p in preds], dtype=np.float64),
        np.array([np.nan if p.probability is None else p.probability for p in preds], dtype=np.float64),
        len(rows),
        key_rows(table, key, f"--current {pattern}") if key else None,
    )


def key_rows(table: pa.Table, key: list[str], what: str) -> list[tuple[str | None, ...]]:
    """The declared label key (monitoring.concept.key) of every row; refused when absent."""
    missing = [c for c in key if c not in table.column_names]
    if missing:
        raise UserError(f"{what}: lacks the label key column(s) {', '.join(missing)} (monitoring.concept.key)")
    columns = [[key_text(v) for v in table.column(c).to_pylist()] for c in key]
    return list(zip(*columns, strict=True))


# --- covariate drift (covariate.py: over parts, added up) ------------------------------
def feature_drift(ref: dict[str, Any], values: Any, cfg: Covariate) -> dict[str, Any]:
    """PSI plus KS (numeric) or chi-square (categorical) of one feature's values."""
    return drift_all({"x": ref}, {"x": values}, cfg)["x"]


def drift_all(reference: dict[str, Any], columns: dict[str, Any], cov: Covariate) -> dict[str, dict[str, Any]]:
    """Every feature's drift over columns held in this process (one part)."""
    rows = max((len(v) for v in columns.values()), default=0)
    part = Part(0, Current(dict(columns), None, [None] * rows, [None] * rows, None, None, rows))
    found = covariates(LocalEngine(), [part], reference, cov, 0, ())
    return found.features


def bins_used(reference: dict[str, Any]) -> int | None:
    """The number of PSI bins of the reference's numeric profiles (None without any)."""
    counts = {len(p["shares"]) for p in reference.values() if p.get("kind") == "numeric" and p.get("shares")}
    return max(counts) if counts else None


# --- concept drift ---------------------------------------------------------------------
def read_labels(
    pattern: str,
    entity: str,
    timestamp: str | None,
    target: str,
    rename: dict[str, str] | None = None,
    positive: str | None = None,
    classes: list[Any] | None = None,
    key: list[str] | None = None,
) -> dict[str, Any] | None:
    """Delayed ground truth from CSV, JSONL or Parquet files (a path or a glob); columns
    may keep the source's names (`rename`). None while no file has arrived: delayed
    labels are late by definition, so that is a state to report, not an error."""
    from mlwright.runtime.data.sources import apply_rename, concat, read_table_file

    raw_entity = {new: raw for raw, new in (rename or {}).items()}.get(entity, entity)

    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if not files:
        return None
    tables = [read_table_file(f, (entity, raw_entity)) for f in files]
    table = apply_rename(concat(tables), rename or {}, pattern, strict=False)
    label_col = target if target in table.column_names else "label"
    if label_col not in table.column_names:
        raise UserError(f"labels {pattern}: need a '{target}' (or 'label') column; have {table.column_names}")
    values = table.column(label_col).to_pylist()
    y = [class_code(v, classes) for v in values] if classes is not None else [truth(v, positive) for v in values]
    out: dict[str, Any] = {"y": y}
    out["request_id"] = table.column("request_id").to_pylist() if "request_id" in table.column_names else None
    out["entity"] = (
        [None if v is None else str(v) for v in table.column(entity).to_pylist()]
        if entity in table.column_names
        else None
    )
    out["ts"] = (
        event_times_us(table.column(timestamp), f"labels {pattern}: {timestamp}").to_pylist()
        if timestamp and timestamp in table.column_names
        else None
    )
    out["key"] = key_rows(table, key, f"labels {pattern}") if key else None
    return out


def unique_lookup(keys: list[Any], values: list[Any], what: str, pattern: str) -> dict[Any, Any]:
    """key -> label, refusing keys that name two labels: joining on them would hand a
    row another row's label and still count it as covered."""
    lookup: dict[Any, Any] = {}
    dupes: dict[Any, int] = {}
    for k, v in zip(keys, values, strict=True):
        if k in lookup:
            dupes[k] = dupes.get(k, 1) + 1
        lookup[k] = v
    if dupes:
        shown = ", ".join(repr(k) for k in list(dupes)[:3])
        raise UserError(
            f"labels {pattern}: {len(dupes)} {what} key(s) name more than one label "
            f"({sum(dupes.values())} rows, e.g. {shown}); the join would be ambiguous: "
            "give each label the request_id of its prediction, or a key that is unique"
        )
    return lookup


def join_labels(cur: Current, labels: dict[str, Any], pattern: str = "") -> np.ndarray:
    """Label per current row (NaN where none arrived): by request id, (entity, time), or
    entity, whichever both sides carry; the key must be unique among the labels."""
    y = np.full(cur.rows, np.nan)
    if labels.get("key") is not None and cur.keys is None:  # declared, but the current rows lack it: no guessing
        raise UserError(
            "monitoring.concept.key: the current data does not carry the declared label key; "
            "log it as a request input, or score a batch that has it"
        )
    if labels.get("key") is not None and cur.keys is not None:  # declared: monitoring.concept.key
        lookup = unique_lookup(labels["key"], labels["y"], "declared (monitoring.concept.key)", pattern)
        keys: list[Any] = cur.keys
    elif labels["request_id"] is not None and any(cur.request_id):
        lookup = unique_lookup(labels["request_id"], labels["y"], "request_id", pattern)
        keys = cur.request_id
    elif labels["ts"] is not None and cur.ts is not None and labels["entity"] is not None:
        pairs = list(zip(labels["entity"], labels["ts"], strict=True))
        lookup = unique_lookup(pairs, labels["y"], "(entity, timestamp)", pattern)
        keys = list(zip(cur.entity, cur.ts.tolist(), strict=True))
    elif labels["entity"] is not None:
        lookup = unique_lookup(labels["entity"], labels["y"], "entity", pattern)
        keys = cur.entity
    else:
        raise UserError("labels need request_id, or the entity column (and the timestamp) to join")
    for i, k in enumerate(keys):
        v = lookup.get(k)
        if v is not None:
            y[i] = v
    return y


def metric_value(
    name: str, y: np.ndarray, pred: np.ndarray, prob: np.ndarray, beta: float, multiclass: bool = False
) -> float:
    """The concept metric on labelled predictions (multiclass: class codes, macro F-scores)."""
    if multiclass:
        return macro_fbeta(y, pred, beta if name == "fbeta" else 1.0)
    if name == "f1":
        return fbeta(y, pred, 1.0)
    if name == "fbeta":
        return fbeta(y, pred, beta)
    if name in ("roc_auc", "pr_auc"):
        return score(name, y, prob)
    return score(name, y, pred)


def relative_drop(name: str, baseline: float, value: float) -> float:
    if not baseline:
        return 0.0
    return (baseline - value) / baseline if HIGHER_IS_BETTER[name] else (value - baseline) / baseline


def judge_window(
    name: str,
    y: np.ndarray,
    pred: np.ndarray,
    prob: np.ndarray,
    baseline: float,
    cfg: Concept,
    beta: float,
    multiclass: bool = False,
) -> dict[str, Any]:
    have = ~np.isnan(y)
    n = int(have.sum())
    coverage = n / len(y) if len(y) else 0.0
    if n < cfg.min_labels:
        return {
            "labels": n,
            "coverage": coverage,
            "value": None,
            "relative_drop": None,
            "status": "insufficient",
            "alert": False,
        }
    value = metric_value(name, y[have], pred[have], prob[have], beta, multiclass)
    drop = relative_drop(name, baseline, value)
    alert = drop > cfg.max_relative_drop
    return {
        "labels": n,
        "coverage": round(coverage, 4),
        "value": round(value, 6),
        "relative_drop": round(drop, 6),
        "status": "alert" if alert else "ok",
        "alert": alert,
    }


def folded_windows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The concept table's rows: consecutive windows with too few labels folded into
    one row ("91 windows, 2024-01-01 … 2024-03-31"), every judged window kept."""
    rows: list[dict[str, Any]] = []
    for w in windows:
        last = rows[-1] if rows else None
        if w["status"] == "insufficient" and last is not None and last.get("folded"):
            last.update(last_window=w["window"], count=last["count"] + 1, labels=last["labels"] + w["labels"])
        elif w["status"] == "insufficient":
            rows.append({**w, "folded": True, "first_window": w["window"], "last_window": w["window"], "count": 1})
        else:
            rows.append(w)
    return rows


def concept_chart(concept: dict[str, Any]) -> dict[str, Any] | None:
    """Coordinates of the concept metric over judged windows, with the alert line and
    the baseline, on a scale fitted to the values (an error metric is not in 0..1)."""
    judged = [w for w in concept["windows"] if w["value"] is not None]
    if not judged or concept["baseline"] is None:
        return None
    values = [w["value"] for w in judged] + [concept["alert_line"], concept["baseline"]]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 0.1
    lo, hi = lo - pad, hi + pad

    def y(v: float) -> float:
        out: float = round(170 - 150 * (v - lo) / (hi - lo), 1)
        return out

    n = len(judged)
    points = [
        {
            "x": round(50 + 630 * (i + 0.5) / n, 1),
            "y": y(w["value"]),
            "window": w["window"],
            "value": w["value"],
            "alert": w["alert"],
        }
        for i, w in enumerate(judged)
    ]
    return {
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "alert_y": y(concept["alert_line"]),
        "baseline_y": y(concept["baseline"]),
        "ticks": [{"y": y(v), "label": f"{v:.3g}"} for v in (lo + pad, (lo + hi) / 2, hi - pad)],
        "first": judged[0]["window"],
        "last": judged[-1]["window"],
    }


Z_97_5 = 1.959964


def drop_z(
    name: str,
    y: np.ndarray,
    pred: np.ndarray,
    prob: np.ndarray,
    beta: float,
    baseline: float,
    baseline_rows: int,
    rounds: int = 300,
    multiclass: bool = False,
) -> float:
    """How many standard errors the slice's metric sits below its baseline.

    The current slice's standard error comes from a seeded bootstrap; the
    baseline was measured on `baseline_rows` test rows, so its error is scaled
    from the same estimate (sqrt(n_current / n_baseline)). A baseline without a
    row count counts as exact."""
    have = ~np.isnan(y)
    y, pred, prob = y[have], pred[have], prob[have]
    rng = np.random.default_rng(0)
    values = [
        metric_value(name, y[i], pred[i], prob[i], beta, multiclass)
        for i in (rng.integers(0, len(y), len(y)) for _ in range(rounds))
    ]
    se = float(np.std(values))
    se_base = se * np.sqrt(len(y) / baseline_rows) if baseline_rows else 0.0
    gap = baseline - metric_value(name, y, pred, prob, beta, multiclass)
    gap = gap if HIGHER_IS_BETTER[name] else -gap
    total = float(np.hypot(se, se_base))
    return float("inf") if total == 0 and gap > 0 else gap / total if total else 0.0


# --- the command -----------------------------------------------------------------------
def run_monitor(target: Path, current: str, labels: str | None, state_root: Path | None = None) -> dict[str, Any]:
    """Covariate drift of every watched feature (overall and per window), concept drift
    on delayed labels (overall, per window, per slice), alerts sent once, the report."""
    from mlwright.runtime.context import load_context

    ctx = load_context(target)
    mon = ctx.params.monitor
    root = state_root or target
    with monitor_engine(ctx, current) as engine:
        predictor, reference, parts = observed(engine, target, current, mon, compute_of(ctx).buckets)
        found = covariates(engine, parts, reference, mon.covariate, mon.window_seconds, tuple(mon.slices))
    cur = found.concept
    bundle = predictor.bundle
    model = ModelOf(bundle.name, bundle.model_version, bundle.dataset_version)
    features = judged_features(found.features, mon.covariate, bundle.feature_importance)
    windows = windows_of(cur.ts, cur.rows, mon.window_seconds)
    if len(windows) > 1:  # judge the whole sample too: small windows may each be too thin
        windows = {"all": np.arange(cur.rows), **windows}
    window_report, alerts = window_alerts(found.windows, mon.covariate, model)
    concept, concept_alerts = concept_drift(target, predictor, cur, windows, mon, labels, model)
    alerts += concept_alerts
    fresh = send_alerts(alerts, mon.alerts, root)
    report: dict[str, Any] = {
        "report_version": 1,
        "system": model.system,
        "model_version": model.model_version,
        "dataset_version": model.dataset_version,
        "current": str(current),
        "rows": cur.rows,
        "window_seconds": mon.window_seconds,
        "psi": {
            "threshold": mon.covariate.threshold,
            # the bins PSI was computed on: the registered reference profile's, which may
            # differ from monitoring.covariate.bins until the next register rebuilds it
            "bins": bins_used(reference) or mon.covariate.bins,
            "epsilon": mon.covariate.epsilon,
            "binning": "reference quantiles, open-ended outer bins",
        },
        "tests": {"p_value": mon.covariate.ks_p_value, "numeric": "ks", "categorical": "chi2"},
        "features": features,
        "windows": window_report,
        "concept": concept,
        "alerts": [a.as_json() for a in alerts],
        "alerts_sent_now": len(fresh),
        "histograms": found.histograms,
    }
    write_json(root / "reports" / "drift.json", report)
    if mon.dashboard == "html":
        render_html(
            "reports/drift.html.j2",
            root / "reports" / "drift.html",
            r=report,
            concept_rows=folded_windows(report["concept"]["windows"]),
            chart=concept_chart(report["concept"]),
        )
    return report


@contextlib.contextmanager
def monitor_engine(ctx: StageContext, current: str) -> Iterator[Engine]:
    """The build's Dask engine for a prediction log (read in byte ranges on the
    workers); this process for a batch, which is scored here with the model."""
    compute = compute_of(ctx)
    if compute.engine != "dask" or not is_prediction_log(current):
        yield LocalEngine()
        return
    with open_engine(compute, "monitor") as engine:
        yield engine


def observed(
    engine: Engine, target: Path, current: str, mon: MonitorParams, buckets: int
) -> tuple[Predictor, dict[str, Any], list[Any]]:
    """The registered model, its reference profile, and what it saw since as parts (in
    row order): a prediction log (on a cluster: `buckets` byte ranges), or a batch
    scored here."""
    predictor = Predictor(target, target)
    key = list(mon.concept.key) or None
    try:
        reference = load_reference(predictor.folder / "reference")
        entity = predictor.serving.entity
        if engine.name != "local":
            parts = log_parts(engine, Path(current), target, buckets, reference, entity, predictor.classes, key)
        elif is_prediction_log(current):
            parts = [Part(0, read_log(Path(current), reference, entity, predictor.classes, key))]
        else:
            parts = [Part(0, read_batch(current, predictor, reference, mon.timestamp, target, key))]
    finally:
        predictor.close()
    return predictor, reference, parts


def log_parts(
    engine: Engine,
    log: Path,
    target: Path,
    buckets: int,
    reference: dict[str, Any],
    entity: str,
    classes: list[Any] | None,
    key: list[str] | None,
) -> list[Any]:
    """The log in one byte range per bucket, each read on a worker and kept there."""
    kinds = {name: {"kind": prof["kind"]} for name, prof in reference.items()}
    # absolute paths: a worker's working directory is not this process's
    with tempfile.TemporaryDirectory(prefix=".monitor-parts-", dir=target.resolve()) as folder:
        ranges = log_ranges(log.resolve(), buckets)
        jobs = [LogPart(i, r, folder, kinds, entity, classes, key) for i, r in enumerate(ranges)]
        return engine.keep(read_log_part, jobs, "read")


def judged_features(
    features: dict[str, dict[str, Any]], cov: Covariate, importance: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each feature's drift over the whole sample: alerts go by PSI (the spec's threshold);
    a significant test with PSI below it is reported as such, not alerted."""
    for name, f in features.items():
        f["importance"] = importance.get(name)
        f["significant"] = f["p_value"] is not None and f["p_value"] < cov.ks_p_value
        if f["psi"] is not None and f["psi"] > cov.threshold:
            f["status"] = "alert"
        elif f["significant"]:
            f["status"] = "significant"
    return features


def window_alerts(
    windows: list[tuple[str, int, dict[str, float | None]]], cov: Covariate, model: ModelOf
) -> tuple[list[dict[str, Any]], list[DriftAlert]]:
    """Every window's PSI per feature, and an alert for each that crosses the threshold."""
    report, alerts = [], []
    for wname, rows, per in windows:
        for name, psi in per.items():
            if psi is not None and psi > cov.threshold:
                alerts.append(DriftAlert(model, "covariate", name, None, psi, cov.threshold, wname))
        report.append({"window": wname, "rows": rows, "psi": per})
    return report, alerts


def concept_drift(
    target: Path,
    predictor: Predictor,
    cur: Current,
    windows: dict[str, np.ndarray],
    mon: MonitorParams,
    labels: str | None,
    model: ModelOf,
) -> tuple[dict[str, Any], list[DriftAlert]]:
    """The concept metric on delayed labels against the registered baseline; or why it
    was not judged (no labels configured, or none arrived yet)."""
    baseline = predictor.bundle.baseline.value
    concept: dict[str, Any] = {
        "metric": mon.concept.metric,
        "baseline": baseline,
        "windows": [],
        "slices": {},
        "relative_drop": None,
        "min_labels": mon.concept.min_labels,  # below it a window is "insufficient"
        "alert_line": baseline * (1 - mon.concept.max_relative_drop) if baseline is not None else 0.0,
    }
    label_pattern = labels or mon.concept.labels
    if baseline is None:
        concept["message"] = (
            f"the registered model has no {mon.concept.metric} on its test slice to compare with: concept drift not judged"
        )
        return concept, []
    if not label_pattern or cur.prediction is None:
        concept["message"] = (
            "no labels given: concept drift not judged (pass --labels or set monitoring.concept.labels)"
        )
        return concept, []
    pattern = label_pattern if labels else str(target / label_pattern)
    lab = read_labels(
        pattern,
        predictor.serving.entity,
        mon.timestamp,
        predictor.serving.target,
        predictor.serving.rename,
        predictor.bundle.positive_class,
        predictor.classes,
        list(mon.concept.key) or None,
    )
    if lab is None or cur.probability is None:
        concept["waiting"] = True
        concept["message"] = f"waiting for labels: no file matches {pattern} yet; concept drift not judged"
        return concept, []
    judge = ConceptJudge(
        mon.concept.metric,
        join_labels(cur, lab, pattern),
        cur.prediction,
        cur.probability,
        predictor.bundle.metric.beta,
        mon.concept,
        predictor.classes is not None,
    )
    return judged_concept(judge, concept, cur, windows, mon, predictor.bundle.baseline, model)


def judged_concept(
    judge: ConceptJudge,
    concept: dict[str, Any],
    cur: Current,
    windows: dict[str, np.ndarray],
    mon: MonitorParams,
    registered: ConceptBaseline,
    model: ModelOf,
) -> tuple[dict[str, Any], list[DriftAlert]]:
    """The concept metric overall, per window and per slice, and an alert for each drop
    past `max_relative_drop`."""
    baseline = concept["baseline"]
    drop = mon.concept.max_relative_drop
    overall = judge.window(np.arange(cur.rows), baseline)
    concept.update(overall=overall, relative_drop=overall["relative_drop"])
    alerts = []
    for wname, idx in windows.items():
        w = judge.window(idx, baseline)
        concept["windows"].append({"window": wname, **w})
        if w["alert"]:
            alerts.append(DriftAlert(model, "concept", None, None, w["relative_drop"], drop, wname))
    for name, s in judge.slices(cur, mon.slices, registered, baseline).items():
        concept["slices"][name] = s
        if s["alert"]:
            alerts.append(DriftAlert(model, "concept", None, name, s["relative_drop"], drop, "all"))
    concept["message"] = _concept_message(overall, mon.concept.metric)
    return concept, alerts


@dataclass(frozen=True)
class ConceptJudge:
    """The concept metric on labelled rows of the current data, against a baseline."""

    name: str
    y: np.ndarray  # the delayed label of each current row (NaN: none arrived)
    prediction: np.ndarray
    probability: np.ndarray
    beta: float
    cfg: Concept
    multiclass: bool

    def window(self, idx: np.ndarray, baseline: float) -> dict[str, Any]:
        return judge_window(
            self.name,
            self.y[idx],
            self.prediction[idx],
            self.probability[idx],
            baseline,
            self.cfg,
            self.beta,
            self.multiclass,
        )

    def slices(
        self, cur: Current, columns: tuple[str, ...], registered: ConceptBaseline, overall: float
    ) -> dict[str, dict[str, Any]]:
        """Each slice against its own registered baseline. Slices are small: a drop alerts
        only when it is clear of both samples' noise (a z-test at 97.5%)."""
        out: dict[str, dict[str, Any]] = {}
        for col in columns:
            if col not in cur.columns:
                continue
            vals = cur.columns[col]
            for v in sorted({x for x in vals if x is not None}):
                idx = np.array([i for i, x in enumerate(vals) if x == v])
                base = registered.slices.get(f"{col}={v}")
                if base is None or base.value is None:  # a slice training's test rows never had
                    base = SliceBaseline(value=overall, rows=0)
                value = base.value if base.value is not None else overall
                s = self.window(idx, value)
                s["baseline"] = value
                if s["alert"]:
                    s["z"] = drop_z(
                        self.name,
                        self.y[idx],
                        self.prediction[idx],
                        self.probability[idx],
                        self.beta,
                        value,
                        base.rows,
                        multiclass=self.multiclass,
                    )
                    s["alert"] = s["z"] > Z_97_5
                    s["status"] = "alert" if s["alert"] else "within noise"
                out[f"{col}={v}"] = s
        return out


def _concept_message(overall: dict[str, Any], name: str) -> str:
    if overall["status"] == "insufficient":
        return f"only {overall['labels']} labels arrived ({overall['coverage']:.0%} coverage): too few to judge"
    return f"{name} = {overall['value']:.4f} on {overall['labels']} labelled predictions ({overall['coverage']:.0%} coverage), relative drop {overall['relative_drop']:.2%}"
