"""Stage 5: leakage refused, deterministic LightGBM, and the reproduce-before-register gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlwright.contract.errors import GateFailed
from mlwright.runtime.serving.predictor import Predictor
from mlwright.runtime.stages import featurize, ingest, register, train, validate
from mlwright.runtime.stats.splits import Split, check_split, time_split

from .stage_helpers import churn_build, recompile


def _up_to_features(tmp: Path, *overrides: str):  # type: ignore[no-untyped-def]
    ctx = churn_build(tmp, *overrides)
    ingest.run(ctx)
    validate.run(ctx)
    featurize.run(ctx)
    return ctx


def test_train_twice_gives_identical_metrics_and_model_bytes(tmp_path: Path) -> None:
    ctx = _up_to_features(tmp_path)
    first = train.run(ctx)
    model = ctx.path("models/candidate/model.txt").read_bytes()
    second = train.run(ctx)
    assert ctx.path("models/candidate/model.txt").read_bytes() == model
    assert first["test"] == second["test"] and first["threshold"] == second["threshold"]
    name = first["metric"]["name"]
    assert first["test"][name] > first["baseline_test"][name] + 0.03  # clearly better than a trivial rule
    assert first["leakage"]["suspect_features"] == {}
    report = register.run(ctx)
    assert report["registered"] and report["reproduced"]
    bundle = json.loads(ctx.path("models/registered/bundle.json").read_text())
    assert bundle["model_version"] == "v1.0.0" and bundle["threshold"] == first["threshold"]
    assert set(json.loads(ctx.path("models/registered/reference/profile.json").read_text())) == {
        "country",
        "monthly_fee",
        "plan",
        "support_tickets",
        "fee_per_ticket",  # and every model feature a request does not carry: monitoring watches what the model sees
        "spend_90d",
        "payments_90d",
    }
    card = ctx.path("models/registered/model_card.md").read_text().splitlines()[0]
    assert card == "# Model card: churn v1.0.0", card  # the version it is registered under
    assert Predictor(ctx.root, with_store=False).bundle.serving.entity == "customer_id"  # read back typed
    bundle_file = ctx.path("models/registered/bundle.json")
    bundle_file.write_text(json.dumps({**bundle, "threshold": None}))  # not hashed: it holds the hashes
    with pytest.raises(GateFailed, match=r"bundle\.json: .*decision threshold .*re-register"):
        Predictor(ctx.root, with_store=False)  # refused on load, not a crash at the first request
    register.run(ctx)
    unchecked = register.run(recompile(ctx, "training.register.reproduce=false"))
    assert unchecked["registered"] and unchecked["reproduced"] is None  # not re-run: not claimed


def test_planted_label_leak_fails_the_stage(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path)
    spec = ctx.source_root() / "system.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    - name: fee_per_ticket\n",
            '    - name: leak\n      from: events\n      expr: "CAST(churned AS INTEGER)"\n    - name: fee_per_ticket\n',
        )
    )
    ctx = recompile(ctx)
    ingest.run(ctx)
    validate.run(ctx)
    featurize.run(ctx)
    with pytest.raises(GateFailed, match="target leakage suspected.*leak"):
        train.run(ctx)


def test_non_reproducible_training_is_not_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _up_to_features(tmp_path)
    train.run(ctx)
    real_fit = register.final_fit

    def unseeded(cfg, p, params, trainer=None):  # type: ignore[no-untyped-def]
        return real_fit(
            cfg.model_copy(update={"seed": int(np.random.default_rng().integers(1, 10**6))}),
            p,
            {**params, "subsample": 0.7, "subsample_freq": 1},
            trainer,
        )

    monkeypatch.setattr(register, "final_fit", unseeded)
    with pytest.raises(GateFailed, match="did not reproduce"):
        register.run(ctx)
    assert not ctx.path("models/registered").exists()
    assert json.loads(ctx.path("reports/register.json").read_text())["registered"] is False


def test_min_metric_blocks_registration(tmp_path: Path) -> None:
    ctx = _up_to_features(tmp_path, "training.register.min_metric=0.99")
    train.run(ctx)
    with pytest.raises(GateFailed, match="below register.min_metric"):
        register.run(ctx)


def test_time_slices_respect_the_gap_and_overlap_is_refused() -> None:
    ts = np.arange(1000, dtype=np.int64) * 3_600_000_000  # hourly
    split = time_split(ts, 0.15, 0.15, 86_400)
    assert ts[split.train].max() + 86_400_000_000 <= ts[split.validation].min()
    assert ts[split.validation].max() + 86_400_000_000 <= ts[split.test].min()
    with pytest.raises(GateFailed, match="leakage"):
        check_split(Split(np.arange(0, 600), np.arange(590, 800), np.arange(800, 1000)), ts, 0)


def test_pairwise_separation_finds_a_label_copied_into_one_number() -> None:
    """A leak encoding three classes in one column separates every pair of classes;
    a feature that isolates one class only (iris petal length and setosa) is not flagged."""
    from sklearn.datasets import load_iris

    from mlwright.runtime.stages.train import LEAK_AUC, pairwise_separation
    from mlwright.runtime.stats.metrics import rank_auc

    iris = load_iris()
    y = iris.target.astype(np.int64)
    rng = np.random.default_rng(0)
    leak = y + rng.normal(0, 0.01, len(y))
    assert pairwise_separation(y, leak, 3) > LEAK_AUC
    assert rank_auc((y == 1).astype(np.int64), leak) < 0.75  # one-vs-rest misses it
    for j in range(4):
        assert pairwise_separation(y, iris.data[:, j], 3) < LEAK_AUC
    assert pairwise_separation(y, rng.normal(size=len(y)), 3) < 0.8


def test_rows_without_a_target_are_refused_with_the_remedy_or_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlwright.contract.errors import UserError

    ctx = churn_build(tmp_path)
    events = ctx.source_root() / "data" / "events.csv"
    lines = events.read_text().splitlines()
    for i in range(1, 31):  # 30 rows lose their label (the last column)
        lines[i] = lines[i].rsplit(",", 1)[0] + ","
    events.write_text("\n".join(lines) + "\n")
    ingest.run(ctx)
    featurize.run(ctx)  # validate would refuse the data first; train must still not guess
    with pytest.raises(UserError, match=r"missing in 30 of \d+ training rows; set training.missing_target: drop"):
        train.run(ctx)
    ctx = recompile(ctx, "training.missing_target=drop")
    report = train.run(ctx)
    assert "train: 30 of 1500 rows have no target and are left out" in capsys.readouterr().out
    assert sum(report["split_rows"].values()) <= len(lines) - 1 - 30  # (a time split's gap drops a few more)


def test_every_trial_is_counted_pruned_or_not_and_register_says_what_it_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    ctx = _up_to_features(tmp_path, "training.hpo.trials=12")
    train.run(ctx)
    out = capsys.readouterr().out
    numbers = sorted(int(n) for n in re.findall(r"train: trial (\d+)/12 ", out))
    assert numbers == list(range(1, 13)), out
    register.run(ctx)
    out = capsys.readouterr().out
    assert "register: re-running the final fit" in out and "register: re-run done in" in out
