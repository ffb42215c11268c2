"""Stage 3, `validate`: three layers of expectations, a JSON + HTML report, a gate.

Layer A (schema) runs vectorised on Arrow data (pyarrow.compute, DuckDB for
`cross_field` SQL): at 1M rows a validation framework costs 7-50x the read, so
none sits on this path. Layer B (distribution) compares against the reference
profile of the last accepted dataset version (KS for continuous columns, a
two-sample chi-square for categorical ones); layer C compares class proportions.
A failed expectation passes only when `expectations.overrides` names it with a
justification. Any remaining failure exits 1, so DVC stops before `featurize`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.validate import ColumnCheck, CrossFieldCheck, Override, ValidateParams
from mlwright.runtime.atomic import write_json
from mlwright.runtime.context import GateFailed, StageContext, UserError, say, stage_main
from mlwright.runtime.reports import render_html
from mlwright.runtime.stages.ingest import VERSION, read_snapshot
from mlwright.runtime.stats.two_sample import (
    categorical_profile,
    chi2_two_sample,
    histogram,
    ks_two_sample,
    numeric_profile,
)

REPORT_VERSION = 1
REFERENCE_DIR = ".mlwright/reference"
MAX_EXAMPLES = 20
_TYPE_SQL = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}
_EXPECTED_ARROW = {
    "int": pa.types.is_integer,
    "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
    "bool": pa.types.is_boolean,
    "timestamp": pa.types.is_timestamp,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "category": lambda t: pa.types.is_string(t) or pa.types.is_dictionary(t) or pa.types.is_large_string(t),
}


@dataclass
class Outcome:
    id: str
    layer: str
    status: str  # passed | failed | overridden | skipped
    message: str = ""
    source: str = ""
    column: str = ""
    observed: dict[str, Any] = field(default_factory=dict)
    examples: list[Any] = field(default_factory=list)
    justification: str = ""


# --- layer A ------------------------------------------------------------------
# Layer B's tests by the names `expectations.distribution.continuous/categorical` use:
# the report names the test that computed each p-value, from the same setting.
CONTINUOUS_TESTS = {"ks": ks_two_sample}
CATEGORICAL_TESTS = {"chi2": chi2_two_sample}

# What each type reads, said where a column does not parse as it: a date written
# "Jan 1 2000" is text until the file (or a conversion before ingest) writes ISO 8601.
TYPE_HINTS = {
    "timestamp": " (read as ISO 8601 text, e.g. 2024-01-31 or 2024-01-31T12:00:00[Z], or a Parquet timestamp)",
    "bool": " (read as true/false, 1/0, yes/no, t/f, y/n in any case)",
}


def _examples(values: pa.ChunkedArray | pa.Array, mask: Any) -> list[Any]:
    picked = pc.filter(values, mask)
    return [str(v) for v in picked.slice(0, MAX_EXAMPLES).to_pylist()]


def _fail(oid: str, source: str, column: str, count: int, total: int, message: str, examples: list[Any]) -> Outcome:
    pct = 100.0 * count / total if total else 0.0
    return Outcome(
        oid, "schema", "failed", message, source, column, {"count": count, "percent": round(pct, 4)}, examples
    )


def column_checks(source: str, table: pa.Table, column: str, spec: ColumnCheck) -> list[Outcome]:
    base = f"schema.{source}.{column}"
    n = table.num_rows
    if column not in table.column_names:
        return [
            Outcome(
                f"{base}.present",
                "schema",
                "failed",
                "column is missing",
                source,
                column,
                {"count": n, "percent": 100.0},
            )
        ]
    col = table.column(column)
    out: list[Outcome] = []
    kind = spec.type
    if not _EXPECTED_ARROW[kind](col.type):
        bad = _unparseable(col, kind)
        out.append(
            _fail(
                f"{base}.type",
                source,
                column,
                int(pc.sum(bad).as_py() or 0),
                n,
                f"values are not {kind}" + TYPE_HINTS.get(kind, ""),
                _examples(col, bad),
            )
        )
        return out
    out.append(Outcome(f"{base}.type", "schema", "passed", "", source, column, {"type": str(col.type)}))
    if not spec.nullable:
        null_count = col.null_count
        out.append(
            _fail(f"{base}.nullable", source, column, null_count, n, "null values in a non-nullable column", [])
            if null_count
            else _ok(f"{base}.nullable", source, column)
        )
    if spec.min is not None or spec.max is not None:
        out.append(_range(source, column, col, spec.min, spec.max, n))
    if spec.values is not None:
        out.append(_allowed(source, column, col, spec.values, n))
    keys = [column, *(spec.unique_with or [])] if spec.unique or spec.unique_with else []
    if keys and all(k in table.column_names for k in keys):
        dup_count, examples = _duplicates(table, keys)
        out.append(
            _fail(f"{base}.unique", source, column, dup_count, n, f"duplicate rows on ({', '.join(keys)})", examples)
            if dup_count
            else _ok(f"{base}.unique", source, column)
        )
    return out


def _range(source: str, column: str, col: pa.ChunkedArray, lo: float | None, hi: float | None, n: int) -> Outcome:
    """min/max first (one pass); a mask and examples only when something is out of range."""
    oid = f"schema.{source}.{column}.range"
    mm = pc.min_max(col)
    mn, mx = mm["min"].as_py(), mm["max"].as_py()
    if mn is None or ((lo is None or mn >= lo) and (hi is None or mx <= hi)):
        return _ok(oid, source, column)
    low = pc.less(col, lo) if lo is not None else None
    high = pc.greater(col, hi) if hi is not None else None
    bad = pc.fill_null(
        pc.or_(low, high) if low is not None and high is not None else (low if low is not None else high), False
    )
    shown = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    return _fail(oid, source, column, int(pc.sum(bad).as_py() or 0), n, f"values outside {shown}", _examples(col, bad))


def _allowed(source: str, column: str, col: pa.ChunkedArray, values: tuple[str, ...], n: int) -> Outcome:
    """Distinct values first; a mask and examples only for values outside the set."""
    oid = f"schema.{source}.{column}.values"
    allowed = set(values)
    unseen = [u for u in pc.unique(col).to_pylist() if u is not None and u not in allowed]
    if not unseen:
        return _ok(oid, source, column)
    bad = pc.fill_null(pc.is_in(col, value_set=pa.array(unseen, col.type)), False)
    return _fail(oid, source, column, int(pc.sum(bad).as_py() or 0), n, f"values outside {values}", _examples(col, bad))


def _ok(oid: str, source: str, column: str) -> Outcome:
    return Outcome(oid, "schema", "passed", "", source, column)


def _unparseable(col: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """Non-null values that do not parse as `kind` (the column arrived as text)."""
    import duckdb

    text = pc.cast(col, pa.string())
    con = duckdb.connect()
    tbl = pa.table({"v": text})
    con.register("t", tbl)
    sql_type = _TYPE_SQL.get(kind, "VARCHAR")
    res = con.sql(f"SELECT v IS NOT NULL AND TRY_CAST(v AS {sql_type}) IS NULL AS bad FROM t").to_arrow_table()
    con.close()
    return res.column("bad")


def _duplicates(table: pa.Table, keys: list[str]) -> tuple[int, list[Any]]:
    counts = table.select(keys).group_by(keys).aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts.column("count_all"), 1))
    extra = int(pc.sum(dup.column("count_all")).as_py() or 0) - dup.num_rows if dup.num_rows else 0
    rows = dup.slice(0, MAX_EXAMPLES).to_pylist()
    return extra, [", ".join(f"{k}={r[k]}" for k in keys) for r in rows]


def cross_field(source_tables: dict[str, pa.Table], checks: tuple[CrossFieldCheck, ...]) -> list[Outcome]:
    import duckdb

    out = []
    con = duckdb.connect()
    for name, tbl in source_tables.items():
        con.register(name, tbl)
    for cf in checks:
        oid = f"cross_field.{cf.name}"
        total = source_tables[cf.table].num_rows
        bad = con.sql(f'SELECT * FROM "{cf.table}" WHERE NOT ({cf.check})').to_arrow_table()
        if bad.num_rows:
            examples = [json.dumps(r, default=str) for r in bad.slice(0, MAX_EXAMPLES).to_pylist()]
            o = _fail(oid, cf.table, "", bad.num_rows, total, f"rows violate {cf.check}", examples)
            o.layer = "cross_field"
            out.append(o)
        else:
            out.append(Outcome(oid, "cross_field", "passed", "", cf.table))
    con.close()
    return out


# --- layer B and C: profiles ---------------------------------------------------
def profiled_columns(cfg: ValidateParams) -> dict[str, dict[str, str]]:
    """Columns compared in layer B: declared numeric and categorical columns, not keys; a
    class target is layer C's (class shares), a regression target is compared here like
    any number (it has no classes: every distinct value would be one)."""
    skip = {cfg.entity, cfg.timestamp} | ({cfg.target} if cfg.task != "regression" else set())
    out: dict[str, dict[str, str]] = {}
    for source, cols in cfg.schema_.items():
        for col, spec in cols.items():
            if col in skip or spec.unique or spec.unique_with:
                continue
            if spec.type in ("int", "float"):
                out.setdefault(source, {})[col] = "numeric"
            elif spec.type in ("category", "bool"):
                out.setdefault(source, {})[col] = "categorical"
    return out


def build_profile(tables: dict[str, pa.Table], cfg: ValidateParams) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for source, wanted in profiled_columns(cfg).items():
        table = tables.get(source)
        if table is None:
            continue
        for col, kind in wanted.items():
            if col not in table.column_names:
                continue
            data = table.column(col)
            if kind == "numeric" and (pa.types.is_integer(data.type) or pa.types.is_floating(data.type)):
                vals = pc.drop_null(data).to_numpy().astype(np.float64)
                cols[f"{source}.{col}"] = numeric_profile(vals, 10)
            elif kind == "categorical":
                cols[f"{source}.{col}"] = categorical_profile(data.to_pylist())
    target = None
    label = tables.get(cfg.label_source)
    if cfg.task != "regression" and label is not None and cfg.target in label.column_names:
        target = categorical_profile(label.column(cfg.target).to_pylist())["counts"]
    return {"columns": cols, "target": target}


def save_profile(folder: Path, version: str, profile: dict[str, Any]) -> None:
    """Store a profile: JSON for counts and edges, one .npy per numeric sample."""
    staging = folder / f".{version}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    meta = {"version": version, "target": profile["target"], "columns": {}}
    for i, (name, p) in enumerate(sorted(profile["columns"].items())):
        entry = {k: v for k, v in p.items() if k != "sample"}
        if "sample" in p:
            np.save(staging / f"sample_{i}.npy", p["sample"])
            entry["sample_file"] = f"sample_{i}.npy"
        meta["columns"][name] = entry
    write_json(staging / "profile.json", meta)
    final = folder / version
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def load_profile(folder: Path) -> dict[str, Any]:
    meta = json.loads((folder / "profile.json").read_text())
    for entry in meta["columns"].values():
        if "sample_file" in entry:
            entry["sample"] = np.load(folder / entry["sample_file"])
    out: dict[str, Any] = meta
    return out


def reference_folder(ctx: StageContext, cfg: ValidateParams, version: str) -> Path | None:
    """The reference profile: an explicit path, or the last accepted other version."""
    ref = cfg.distribution.reference
    if ref != "previous":
        path = ctx.path(ref)
        if not (path / "profile.json").is_file():
            raise UserError(
                f"expectations.distribution.reference: {ref}: no profile.json there (point it at a folder under {REFERENCE_DIR})"
            )
        return path
    accepted = ctx.path(REFERENCE_DIR) / "accepted.json"
    try:
        history = json.loads(accepted.read_text())
    except (OSError, ValueError):
        return None
    for v in reversed(history):
        if v != version and (ctx.path(REFERENCE_DIR) / v / "profile.json").is_file():
            out: Path | None = ctx.path(REFERENCE_DIR) / v
            return out
    return None


def distribution(
    current: dict[str, Any], reference: dict[str, Any] | None, cfg: ValidateParams
) -> tuple[list[Outcome], dict[str, Any]]:
    p_value = cfg.distribution.p_value
    outs: list[Outcome] = []
    plots: dict[str, Any] = {}
    for name, cur in sorted(current["columns"].items()):
        source, col = name.split(".", 1)
        oid = f"distribution.{name}"
        ref = (reference or {}).get("columns", {}).get(name)
        if ref is None:
            outs.append(Outcome(oid, "distribution", "skipped", "no reference version yet", source, col))
            continue
        if cur["kind"] == "numeric":
            if len(cur["sample"]) == 0 or len(ref["sample"]) == 0:
                outs.append(Outcome(oid, "distribution", "skipped", "no values", source, col))
                continue
            test: str = cfg.distribution.continuous
            res = CONTINUOUS_TESTS[test](ref["sample"], cur["sample"])
            shift = (cur["mean"] - ref["mean"]) / ref["std"] if ref["std"] else 0.0
            observed = {
                "test": test,
                "statistic": round(res.statistic, 6),
                "p_value": float(f"{res.p_value:.6g}"),
                "mean_shift_sd": round(shift, 4),
            }
            plots[name] = histogram(ref["sample"], cur["sample"])
        else:
            test = cfg.distribution.categorical
            found = CATEGORICAL_TESTS[test](ref["counts"], cur["counts"])
            if found is None:
                outs.append(Outcome(oid, "distribution", "skipped", "fewer than two categories", source, col))
                continue
            res = found
            unseen = sorted(set(cur["counts"]) - set(ref["counts"]))
            observed = {
                "test": test,
                "statistic": round(found.statistic, 4),
                "p_value": float(f"{found.p_value:.6g}"),
                "cramers_v": round(found.effect, 4),
            }
            if unseen:
                observed["unseen"] = ",".join(unseen[:10])
            cats = sorted(set(ref["counts"]) | set(cur["counts"]))
            rt, ct = sum(ref["counts"].values()) or 1, sum(cur["counts"].values()) or 1
            plots[name] = {
                "labels": cats,
                "reference": [ref["counts"].get(c, 0) / rt for c in cats],
                "current": [cur["counts"].get(c, 0) / ct for c in cats],
            }
        failed = res.p_value < p_value
        msg = f"distribution changed (p = {res.p_value:.3g} < {p_value})" if failed else ""
        outs.append(Outcome(oid, "distribution", "failed" if failed else "passed", msg, source, col, observed))
    return outs, plots


def target_layer(current: dict[str, Any], reference: dict[str, Any] | None, cfg: ValidateParams) -> Outcome:
    if cfg.task == "regression":
        return Outcome(
            "target",
            "target",
            "skipped",
            f"a regression target has no classes: its distribution is tested as "
            f"distribution.{cfg.label_source}.{cfg.target}",
            cfg.label_source,
            cfg.target,
        )
    limit = cfg.target_proportion.max_class_proportion_deviation
    ref = (reference or {}).get("target")
    cur = current.get("target")
    if not ref or not cur:
        return Outcome("target", "target", "skipped", "no reference version yet", cfg.label_source, cfg.target)
    rt, ct = sum(ref.values()), sum(cur.values())
    shares = {cls: round(cur.get(cls, 0) / ct, 4) for cls in sorted(set(ref) | set(cur))}
    deviations = {cls: abs(cur.get(cls, 0) / ct - n / rt) / (n / rt) for cls, n in sorted(ref.items()) if n}
    # a class the reference never had moved by no ratio: it is named as new (a relative
    # move from zero is infinite, which JSON cannot hold)
    new = [cls for cls in sorted(cur) if not ref.get(cls)]
    # the first class of the largest deviation: with every share unchanged, a class at 0,
    # never an empty name (the report printed "class=," for identical proportions)
    worst_cls = max(deviations, key=deviations.__getitem__)
    worst = deviations[worst_cls]
    observed: dict[str, Any] = {
        "max_relative_deviation": round(worst, 4),
        "class": worst_cls,
        **({"new_classes": ",".join(new)} if new else {}),
        **{f"share_{k}": v for k, v in shares.items()},
    }
    failed = worst > limit or bool(new)
    msg = f"class '{worst_cls}' proportion moved {worst:.1%} (limit {limit:.0%})" if worst > limit else ""
    if new:
        listed = ", ".join(f"'{c}'" for c in new)
        msg = "; ".join(filter(None, [msg, f"class {listed} absent from the reference version"]))
    return Outcome("target", "target", "failed" if failed else "passed", msg, cfg.label_source, cfg.target, observed)


def apply_overrides(outcomes: list[Outcome], overrides: tuple[Override, ...]) -> list[str]:
    """Mark failures named by an override; return overrides that match no expectation."""
    unmatched = []
    for ov in overrides:
        name = ov.expectation
        hits = [o for o in outcomes if o.id == name or o.id.startswith(name + ".")]
        if not hits:
            unmatched.append(name)
        for o in hits:
            if o.status == "failed":
                o.status = "overridden"
                o.justification = ov.justification
    return unmatched


def load_snapshots(ctx: StageContext) -> dict[str, pa.Table]:
    return {s.name: read_snapshot(ctx, s.name) for s in ctx.params.ingest.sources}


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.params.validate_
    version = json.loads(ctx.path(VERSION).read_text())["version_id"]
    tables = load_snapshots(ctx)
    outcomes: list[Outcome] = []
    for source, columns in sorted(cfg.schema_.items()):
        for column, spec in sorted(columns.items()):
            outcomes.extend(column_checks(source, tables[source], column, spec))
    outcomes.extend(cross_field(tables, cfg.cross_field))
    profile = build_profile(tables, cfg)
    ref_folder = reference_folder(ctx, cfg, version)
    reference = load_profile(ref_folder) if ref_folder else None
    dist, plots = distribution(profile, reference, cfg)
    outcomes.extend(dist)
    outcomes.append(target_layer(profile, reference, cfg))
    unmatched = apply_overrides(outcomes, cfg.overrides)
    if unmatched:
        raise UserError(f"expectations.overrides: {', '.join(unmatched)}: matches no expectation of this pipeline")
    report = make_report(ctx, cfg, version, reference, outcomes, plots)
    report["profile"] = column_summary(tables, cfg)
    write_json(ctx.path("reports/validation.json"), report)
    render_html("reports/validation.html.j2", ctx.path("reports/validation.html"), r=report)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        lines = [f"  {o.id}: {o.message} {o.observed}" for o in failed[:20]]
        raise GateFailed(
            f"{len(failed)} expectation(s) failed; report: {ctx.path('reports/validation.html')}\n" + "\n".join(lines)
        )
    _accept(ctx, version, profile)
    n = report["summary"]
    say(
        f"validate: passed ({n['passed']} passed, {n['overridden']} overridden, {n['skipped']} skipped); report: reports/validation.html"
    )
    return report


def _accept(ctx: StageContext, version: str, profile: dict[str, Any]) -> None:
    folder = ctx.path(REFERENCE_DIR)
    save_profile(folder, version, profile)
    accepted = folder / "accepted.json"
    try:
        history = json.loads(accepted.read_text())
    except (OSError, ValueError):
        history = []
    history = [v for v in history if v != version] + [version]
    write_json(accepted, history)


def column_summary(tables: dict[str, pa.Table], cfg: ValidateParams) -> list[dict[str, Any]]:
    """Rows, nulls, range and distinct values of every declared column: what a first
    version (with no reference to compare against) is shown instead of drift."""
    out = []
    for source, columns in sorted(cfg.schema_.items()):
        table = tables.get(source)
        for column in sorted(columns):
            if table is None or column not in table.column_names:
                continue
            col = table.column(column)
            row: dict[str, Any] = {"column": f"{source}.{column}", "rows": len(col), "nulls": col.null_count}
            if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_timestamp(col.type):
                mm = pc.min_max(col)
                row["min"], row["max"] = str(mm["min"].as_py()), str(mm["max"].as_py())
            else:
                row["distinct"] = int(pc.count_distinct(col).as_py())
            out.append(row)
    return out


def make_report(
    ctx: StageContext,
    cfg: ValidateParams,
    version: str,
    reference: dict[str, Any] | None,
    outcomes: list[Outcome],
    plots: dict[str, Any],
) -> dict[str, Any]:
    summary = {s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "overridden", "skipped")}
    order = {"failed": 0, "overridden": 1, "passed": 2, "skipped": 3}
    return {
        "report_version": REPORT_VERSION,
        "system": cfg.name,
        "dataset_version": version,
        "reference_version": reference["version"] if reference else None,
        "verdict": "failed" if summary["failed"] else "passed",
        "summary": summary,
        "p_value": cfg.distribution.p_value,
        "expectations": [asdict(o) for o in sorted(outcomes, key=lambda o: (order[o.status], o.id))],
        "histograms": plots,
    }


if __name__ == "__main__":
    stage_main("validate", run)
