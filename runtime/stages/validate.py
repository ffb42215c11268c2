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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlwright.contract.validate import Override, ValidateParams
from mlwright.runtime.atomic import write_json
from mlwright.runtime.compute import Engine, compute_of, open_engine
from mlwright.runtime.context import GateFailed, StageContext, UserError, say, stage_main
from mlwright.runtime.data.snapshot_parts import row_ranges
from mlwright.runtime.reports import render_html
from mlwright.runtime.stages.ingest import VERSION, verified_snapshot_path
from mlwright.runtime.stats.two_sample import category_plot, chi2_two_sample, histogram, ks_two_sample
from mlwright.runtime.validation.checks import Outcome
from mlwright.runtime.validation.parts import Facts, PartJob, facts, facts_of_table, part_facts

REPORT_VERSION = 1
REFERENCE_DIR = ".mlwright/reference"
# Layer B's tests by the names `expectations.distribution.continuous/categorical` use:
# the report names the test that computed each p-value, from the same setting.
CONTINUOUS_TESTS = {"ks": ks_two_sample}
CATEGORICAL_TESTS = {"chi2": chi2_two_sample}


def build_profile(tables: dict[str, pa.Table], cfg: ValidateParams) -> dict[str, Any]:
    """The profile of whole tables (each one part): what a reference is made of."""
    profile: dict[str, Any] = facts([facts_of_table(s, t, 0, cfg) for s, t in tables.items()], cfg).profile
    return profile


def snapshot_facts(ctx: StageContext, cfg: ValidateParams, engine: Engine) -> Facts:
    """Every snapshot in `compute.buckets` row ranges, one task each, added up (one range
    per snapshot on the local engine: the same code, the same numbers)."""
    parts = max(1, compute_of(ctx).buckets) if engine.name != "local" else 1
    jobs = [
        PartJob(s.name, rows, cfg)
        for s in ctx.params.ingest.sources
        for rows in row_ranges(str(verified_snapshot_path(ctx, s.name).resolve()), parts)
    ]
    return facts(engine.map(part_facts, jobs, "part"), cfg)


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
            plots[name] = category_plot(ref["counts"], cur["counts"])
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


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.params.validate_
    version = json.loads(ctx.path(VERSION).read_text())["version_id"]
    with open_engine(compute_of(ctx), "validate") as engine:
        found = snapshot_facts(ctx, cfg, engine)
    outcomes: list[Outcome] = list(found.outcomes)
    profile = found.profile
    ref_folder = reference_folder(ctx, cfg, version)
    reference = load_profile(ref_folder) if ref_folder else None
    dist, plots = distribution(profile, reference, cfg)
    outcomes.extend(dist)
    outcomes.append(target_layer(profile, reference, cfg))
    unmatched = apply_overrides(outcomes, cfg.overrides)
    if unmatched:
        raise UserError(f"expectations.overrides: {', '.join(unmatched)}: matches no expectation of this pipeline")
    report = make_report(ctx, cfg, version, reference, outcomes, plots)
    report["profile"] = found.summary
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
