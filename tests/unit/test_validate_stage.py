"""Stage 3: planted violations are counted exactly; drift fails; overrides pass with their reason."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mlwright.contract.errors import GateFailed
from mlwright.runtime.stages import ingest, validate

from ..conftest import chromium_screenshot, generate
from .stage_helpers import churn_build, recompile


def _rewrite(events: Path, fn) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(events.open()))
    for i, r in enumerate(rows):
        fn(i, r)
    with events.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_clean_data_passes_and_first_version_skips_layers_b_c(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path)
    ingest.run(ctx)
    report = validate.run(ctx)
    assert report["summary"]["failed"] == 0 and report["verdict"] == "passed"
    skipped = {e["id"] for e in report["expectations"] if e["status"] == "skipped"}
    assert "target" in skipped and "distribution.events.monthly_fee" in skipped
    # the first version is profiled instead: rows, nulls, range, distinct values
    profile = {c["column"]: c for c in report["profile"]}
    fee = profile["events.monthly_fee"]
    assert fee["rows"] == 1500 and fee["nulls"] == 0 and float(fee["min"]) >= 0 and float(fee["max"]) <= 1000
    assert profile["events.plan"]["distinct"] == 3
    html = (ctx.root / "reports" / "validation.html").read_text()
    assert "Profile of this version (the first: nothing to compare against yet)" in html


def test_hundred_planted_violations_are_reported_as_hundred(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path)
    events = ctx.source_root() / "data" / "events.csv"
    _rewrite(events, lambda i, r: r.update(monthly_fee="-5.0") if i % 10 == 0 and i < 1000 else None)
    _rewrite(events, lambda i, r: r.update(plan="gold") if i % 10 == 1 and i < 1000 else None)
    ingest.run(ctx)
    with pytest.raises(GateFailed, match="2 expectation"):
        validate.run(ctx)
    report = json.loads(ctx.path("reports/validation.json").read_text())
    failed = {e["id"]: e for e in report["expectations"] if e["status"] == "failed"}
    assert set(failed) == {"schema.events.monthly_fee.range", "schema.events.plan.values"}
    assert failed["schema.events.monthly_fee.range"]["observed"]["count"] == 100
    assert failed["schema.events.plan.values"]["observed"]["count"] == 100
    assert failed["schema.events.plan.values"]["examples"][0] == "gold"
    assert failed["schema.events.monthly_fee.range"]["column"] == "monthly_fee"


def test_shifted_fee_fails_and_override_passes_with_reason(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path)
    ingest.run(ctx)
    validate.run(ctx)
    generate(ctx.source_root().parents[1], "churn", "--rows", "1500", "--seed", "7", "--shift-fee", "0.5")
    ingest.run(ctx)
    with pytest.raises(GateFailed, match="distribution.events.monthly_fee"):
        validate.run(ctx)
    reason = "Price increase approved in FIN-7; new reference."
    ctx = recompile(
        ctx, f"expectations.overrides=[{{expectation:distribution.events.monthly_fee,justification:'{reason}'}}]"
    )
    report = validate.run(ctx)
    fee = next(e for e in report["expectations"] if e["id"] == "distribution.events.monthly_fee")
    assert fee["status"] == "overridden" and fee["justification"] == reason
    assert fee["observed"]["mean_shift_sd"] > 0.3
    html = ctx.path("reports/validation.html")
    assert reason in html.read_text()
    dom = chromium_screenshot(html, tmp_path / "validation.png")
    assert 'id="verdict"' in dom and "PASSED" in dom and "distribution.events.monthly_fee" in dom
    assert dom.count("<svg") >= 4 and "rect" in dom
    assert (tmp_path / "validation.png").stat().st_size > 20_000
