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

import glob
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.metrics import HIGHER_IS_BETTER
from mlwright.contract.monitor import Alert, Concept, Covariate

from .atomic import write_json
from .bundle import load_reference
from .context import UserError, resolve_env, say
from .current import Current, class_code, key_text
from .metrics import fbeta, macro_fbeta, score
from .prediction_log import is_prediction_log, read_log
from .predictor import Predictor
from .reports import render_html
from .sources import event_times_us
from .stats import category_shares, chi2_two_sample, histogram, ks_and_shares, psi_from_shares
from .truth import truth

SENT = "state/alerts_sent.json"


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
    from .imaging import hounsfield, preprocess, read_dicom
    from .predict import batch_features, input_files, read_input

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
    entity = predictor.serving["entity"]
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


# --- covariate drift ----------------------------------------------------------------
def feature_drift(ref: dict[str, Any], values: Any, cfg: Covariate) -> dict[str, Any]:
    """PSI plus KS (numeric) or chi-square (categorical) of one feature, each computed once."""
    eps = cfg.epsilon
    if ref["kind"] == "numeric":
        nan = np.isnan(values)
        v = values[~nan] if nan.any() else values
        if len(v) < cfg.min_rows:
            return {
                "status": "insufficient",
                "rows": int(len(v)),
                "psi": None,
                "test": None,
                "statistic": None,
                "p_value": None,
                "effect": None,
            }
        ks, shares = ks_and_shares(ref["sample"], np.asarray(ref["edges"], dtype=np.float64), v)
        psi = psi_from_shares(np.asarray(ref["shares"]), shares, eps)
        shift = (float(v.mean()) - ref["mean"]) / ref["std"] if ref.get("std") else 0.0
        return {
            "status": "ok",
            "rows": int(len(v)),
            "psi": round(psi, 6),
            "test": "ks",
            "statistic": round(ks.statistic, 6),
            "p_value": float(f"{ks.p_value:.6g}"),
            "effect": round(shift, 4),
            "effect_name": "mean_shift_sd",
        }
    counts = category_counts(values)
    n = sum(counts.values())
    if n < cfg.min_rows:
        return {
            "status": "insufficient",
            "rows": n,
            "psi": None,
            "test": None,
            "statistic": None,
            "p_value": None,
            "effect": None,
        }
    r, c = category_shares(ref["counts"], counts)
    psi = psi_from_shares(r, c, eps)
    chi = chi2_two_sample(ref["counts"], counts)
    return {
        "status": "ok",
        "rows": n,
        "psi": round(psi, 6),
        "test": "chi2" if chi else None,
        "statistic": round(chi.statistic, 4) if chi else None,
        "p_value": float(f"{chi.p_value:.6g}") if chi else None,
        "effect": round(chi.effect, 4) if chi else None,
        "effect_name": "cramers_v",
    }


def bins_used(reference: dict[str, Any]) -> int | None:
    """The number of PSI bins of the reference's numeric profiles (None without any)."""
    counts = {len(p["shares"]) for p in reference.values() if p.get("kind") == "numeric" and p.get("shares")}
    return max(counts) if counts else None


def category_counts(values: Any) -> dict[str, int]:
    """Counts of each non-null category (Arrow's value_counts: no Python loop per row)."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
    vc = pc.value_counts(pc.drop_null(arr))
    return {str(k): int(c) for k, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)}


def drift_all(reference: dict[str, Any], columns: dict[str, Any], cov: Covariate) -> dict[str, dict[str, Any]]:
    """`feature_drift` for every feature, one thread per core: the sorts and binary
    searches that dominate release the GIL, so columns run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    names = sorted(reference)
    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1) or 1) as pool:
        results = list(pool.map(lambda n: feature_drift(reference[n], columns[n], cov), names))
    return dict(zip(names, results, strict=True))


DAY = 86_400
MONDAY_OFFSET = 4 * DAY  # 1970-01-01 was a Thursday: Monday 1970-01-05 starts ISO weeks


def window_origin(seconds: int) -> int:
    """Where windows start, on the calendar: weeks on Mondays, days at midnight UTC,
    hours on the hour (counting from the Unix epoch put 7-day windows on Thursdays)."""
    return MONDAY_OFFSET if seconds % (7 * DAY) == 0 else 0


def windows_of(ts: np.ndarray | None, n: int, seconds: int) -> dict[str, np.ndarray]:
    """Row indices per window of event time, keyed by the window's start (ISO 8601)."""
    if ts is None or n == 0 or seconds <= 0:
        return {"all": np.arange(n)}
    origin = window_origin(seconds)
    keys = (ts - origin * 1_000_000) // (seconds * 1_000_000)
    out = {}
    for k in np.unique(keys):
        start = _iso(int(k) * seconds + origin)
        out[start] = np.nonzero(keys == k)[0]
    return out


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _take(values: Any, idx: np.ndarray) -> Any:
    return values[idx] if isinstance(values, np.ndarray) else [values[i] for i in idx]


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
    from .sources import apply_rename, concat, read_table_file

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


# --- alerts ----------------------------------------------------------------------------
def send_alerts(alerts: list[dict[str, Any]], sinks: tuple[Alert, ...], root: Path) -> list[dict[str, Any]]:
    """Deliver each alert once per (kind, feature, slice, window); returns those sent now."""
    sent_file = root / SENT
    try:
        sent = set(json.loads(sent_file.read_text()))
    except (OSError, ValueError):
        sent = set()
    fresh = [a for a in alerts if a["key"] not in sent]
    for sink in sinks:
        if sink.type == "log":
            path = root / sink.path
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                for a in fresh:
                    fh.write(json.dumps({k: v for k, v in a.items() if k != "key"}, sort_keys=True) + "\n")
        else:
            url = str(resolve_env(sink.url))
            token = str(resolve_env(sink.token)) if sink.token else ""
            if url and fresh:
                post_webhook(url, fresh, sink.timeout_s, sink.retries, token)
    if fresh:
        write_json(sent_file, sorted(sent | {a["key"] for a in fresh}))
    return fresh


def post_webhook(url: str, alerts: list[dict[str, Any]], timeout: float, retries: int, token: str = "") -> None:
    """POST the alerts; retry 5xx and network errors with exponential backoff."""
    import httpx

    body = {"alerts": [{k: v for k, v in a.items() if k != "key"} for a in alerts]}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            resp = httpx.post(url, json=body, timeout=timeout, headers=headers)
            if resp.status_code < 500:
                if resp.status_code >= 400:
                    say(f"monitor: webhook refused the alerts ({resp.status_code})")
                return
        except httpx.HTTPError:
            pass
        if attempt < retries:
            time.sleep(delay)
            delay *= 2
    say(f"monitor: webhook {url.split('?')[0]} unreachable after {retries + 1} attempts; alerts kept in the log sink")


# --- the command -----------------------------------------------------------------------
def run_monitor(target: Path, current: str, labels: str | None, state_root: Path | None = None) -> dict[str, Any]:
    from .context import load_context

    mon = load_context(target).params.monitor
    root = state_root or target
    predictor = Predictor(target, target)
    try:
        reference = load_reference(predictor.folder / "reference")
        entity = predictor.serving["entity"]
        if is_prediction_log(current):
            cur = read_log(Path(current), reference, entity, predictor.classes, list(mon.concept.key) or None)
        else:
            cur = read_batch(current, predictor, reference, mon.timestamp, target, list(mon.concept.key) or None)
    finally:
        predictor.close()
    bundle = predictor.bundle
    cov = mon.covariate
    alerts: list[dict[str, Any]] = []
    watched = {name: prof for name, prof in reference.items() if name in cur.columns}
    features = drift_all(watched, cur.columns, cov)
    importance = predictor.bundle.get("feature_importance", {})
    for name, f in features.items():
        f["importance"] = importance.get(name)
        f["significant"] = f["p_value"] is not None and f["p_value"] < cov.ks_p_value
        if f["psi"] is not None and f["psi"] > cov.threshold:
            f["status"] = "alert"  # alerts go by PSI, the spec's threshold
        elif f["significant"]:
            f["status"] = "significant"  # the test rejects "same distribution" at ks_p_value; PSI below threshold
    windows = windows_of(cur.ts, cur.rows, mon.window_seconds)
    if len(windows) > 1:  # judge the whole sample too: small windows may each be too thin
        windows = {"all": np.arange(cur.rows), **windows}
    base_alert = {
        "model_version": bundle["model_version"],
        "dataset_version": bundle["dataset_version"],
        "system": bundle["name"],
    }
    window_report = []
    for wname, idx in windows.items():
        per = {}
        for name, prof in sorted(watched.items()):
            d = feature_drift(prof, _take(cur.columns[name], idx), cov)
            per[name] = d["psi"]
            if d["psi"] is not None and d["psi"] > cov.threshold:
                alerts.append(
                    {
                        **base_alert,
                        "kind": "covariate",
                        "feature": name,
                        "slice": None,
                        "value": d["psi"],
                        "threshold": cov.threshold,
                        "window": wname,
                        "key": f"covariate|{name}||{wname}",
                    }
                )
        window_report.append({"window": wname, "rows": int(len(idx)), "psi": per})
    concept = {
        "metric": mon.concept.metric,
        "baseline": bundle["baseline"]["value"],
        "windows": [],
        "slices": {},
        "relative_drop": None,
    }
    concept["min_labels"] = mon.concept.min_labels  # below it a window is "insufficient"
    concept["alert_line"] = (
        concept["baseline"] * (1 - mon.concept.max_relative_drop) if concept["baseline"] is not None else 0.0
    )
    label_pattern = labels or mon.concept.labels
    if label_pattern and cur.prediction is not None:
        pattern = label_pattern if labels else str(target / label_pattern)
        lab = read_labels(
            pattern,
            entity,
            mon.timestamp,
            predictor.serving["target"],
            predictor.serving.get("rename", {}),
            predictor.bundle.get("positive_class"),
            predictor.classes,
            list(mon.concept.key) or None,
        )
    else:
        pattern, lab = "", None
    if lab is not None and cur.prediction is not None and cur.probability is not None:  # both, or neither
        y = join_labels(cur, lab, pattern)
        beta = bundle["metric"]["beta"]
        name = concept["metric"]
        mc = predictor.classes is not None
        overall = judge_window(name, y, cur.prediction, cur.probability, concept["baseline"], mon.concept, beta, mc)
        concept.update(overall=overall, relative_drop=overall["relative_drop"])
        for wname, idx in windows.items():
            w = judge_window(
                name, y[idx], cur.prediction[idx], cur.probability[idx], concept["baseline"], mon.concept, beta, mc
            )
            concept["windows"].append({"window": wname, **w})
            if w["alert"]:
                alerts.append(
                    {
                        **base_alert,
                        "kind": "concept",
                        "feature": None,
                        "slice": None,
                        "value": w["relative_drop"],
                        "threshold": mon.concept.max_relative_drop,
                        "window": wname,
                        "key": f"concept|||{wname}",
                    }
                )
        for col in mon.slices:
            if col not in cur.columns:
                continue
            vals = cur.columns[col]
            for v in sorted({x for x in vals if x is not None}):
                idx = np.array([i for i, x in enumerate(vals) if x == v])
                base = bundle["baseline"].get("slices", {}).get(f"{col}={v}") or {
                    "value": concept["baseline"],
                    "rows": 0,
                }
                s = judge_window(
                    name, y[idx], cur.prediction[idx], cur.probability[idx], base["value"], mon.concept, beta, mc
                )
                s["baseline"] = base["value"]
                if s["alert"]:  # slices are small: alert only when the drop is clear of both samples' noise
                    s["z"] = drop_z(
                        name,
                        y[idx],
                        cur.prediction[idx],
                        cur.probability[idx],
                        beta,
                        base["value"],
                        base["rows"],
                        multiclass=mc,
                    )
                    s["alert"] = s["z"] > Z_97_5
                    s["status"] = "alert" if s["alert"] else "within noise"
                concept["slices"][f"{col}={v}"] = s
                if s["alert"]:
                    alerts.append(
                        {
                            **base_alert,
                            "kind": "concept",
                            "feature": None,
                            "slice": f"{col}={v}",
                            "value": s["relative_drop"],
                            "threshold": mon.concept.max_relative_drop,
                            "window": "all",
                            "key": f"concept||{col}={v}|all",
                        }
                    )
        concept["message"] = _concept_message(overall, name)
    elif label_pattern and cur.prediction is not None:
        concept["waiting"] = True
        concept["message"] = f"waiting for labels: no file matches {pattern} yet; concept drift not judged"
    else:
        concept["message"] = (
            "no labels given: concept drift not judged (pass --labels or set monitoring.concept.labels)"
        )
    fresh = send_alerts(alerts, mon.alerts, root)
    report = {
        "report_version": 1,
        "system": bundle["name"],
        "model_version": bundle["model_version"],
        "dataset_version": bundle["dataset_version"],
        "current": str(current),
        "rows": cur.rows,
        "window_seconds": mon.window_seconds,
        "psi": {
            "threshold": cov.threshold,
            # the bins PSI was computed on: the registered reference profile's, which may
            # differ from monitoring.covariate.bins until the next register rebuilds it
            "bins": bins_used(reference) or cov.bins,
            "epsilon": cov.epsilon,
            "binning": "reference quantiles, open-ended outer bins",
        },
        "tests": {"p_value": cov.ks_p_value, "numeric": "ks", "categorical": "chi2"},
        "features": features,
        "windows": window_report,
        "concept": concept,
        "alerts": [{k: v for k, v in a.items() if k != "key"} for a in alerts],
        "alerts_sent_now": len(fresh),
        "histograms": {n: _hist(watched[n], cur.columns[n]) for n in sorted(watched)},
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


def _concept_message(overall: dict[str, Any], name: str) -> str:
    if overall["status"] == "insufficient":
        return f"only {overall['labels']} labels arrived ({overall['coverage']:.0%} coverage): too few to judge"
    return f"{name} = {overall['value']:.4f} on {overall['labels']} labelled predictions ({overall['coverage']:.0%} coverage), relative drop {overall['relative_drop']:.2%}"


def _hist(ref: dict[str, Any], values: Any) -> dict[str, Any]:
    if ref["kind"] == "numeric":
        nan = np.isnan(values)
        v = values[~nan] if nan.any() else values
        return histogram(ref["sample"], v)
    counts: dict[str, int] = {}
    for x in values:
        if x is not None:
            counts[x] = counts.get(x, 0) + 1
    cats = sorted(set(ref["counts"]) | set(counts))
    rt, ct = sum(ref["counts"].values()) or 1, sum(counts.values()) or 1
    return {
        "labels": cats,
        "reference": [ref["counts"].get(c, 0) / rt for c in cats],
        "current": [counts.get(c, 0) / ct for c in cats],
    }
