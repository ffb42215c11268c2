"""#18 item 6: covariate drift over byte ranges of a prediction log equals one read of it.

The log is the tricky one of test_prediction_log (refused requests, cut and broken
lines, booleans and text where numbers belong, requests without inputs, 28 days of
windows); it is cut into 1..n ranges at line starts, each read on its own, and the
three rounds of covariate.py run over the parts. Every number of the report (each
feature's PSI, KS statistic and p-value, mean shift, every window's PSI, every plot
share) and the rows concept drift joins must be the same as one part's, and one
part's must be what monitor computed before the parts existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlwright.contract.monitor import Covariate
from mlwright.runtime.compute import LocalEngine
from mlwright.runtime.monitoring.covariate import Covariates, Part, covariates
from mlwright.runtime.monitoring.prediction_log import LogPart, log_ranges, read_log, read_log_part
from mlwright.runtime.stats.two_sample import (
    categorical_profile,
    category_shares,
    histogram,
    ks_and_shares,
    numeric_profile,
    psi_from_shares,
)

from .test_prediction_log import write_log

COV = Covariate(metric="psi", threshold=0.2, bins=10, ks_p_value=0.01, epsilon=1e-4, min_rows=50)
DAY = 86_400


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    return {
        "fee": numeric_profile(rng.normal(52, 10, size=300_000), 10),  # past MAX_SAMPLE: a sample
        "tickets": numeric_profile(rng.poisson(2, size=500).astype(float), 10),  # no request carries it
        "plan": categorical_profile(["basic"] * 700 + ["pro"] * 280 + ["gold"] * 20),
    }


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "predictions.jsonl"
    write_log(path, 30_000)
    return path


def whole(log: Path, reference: dict[str, Any], window: int = DAY) -> Covariates:
    cur = read_log(log, reference, "cid", None, ["cid", "flight"])
    return covariates(LocalEngine(), [Part(0, cur)], reference, COV, window, ("plan",))


def in_parts(log: Path, reference: dict[str, Any], parts: int, folder: Path, window: int = DAY) -> Covariates:
    kinds = {n: {"kind": p["kind"]} for n, p in reference.items()}
    jobs = [
        LogPart(i, r, str(folder), kinds, "cid", None, ["cid", "flight"]) for i, r in enumerate(log_ranges(log, parts))
    ]
    engine = LocalEngine()
    return covariates(engine, engine.keep(read_log_part, jobs, "read"), reference, COV, window, ("plan",))


def same(a: Covariates, b: Covariates) -> None:
    assert a.features == b.features
    assert a.windows == b.windows
    assert a.histograms == b.histograms
    assert set(a.watched) == set(b.watched)
    x, y = a.concept, b.concept
    assert x.rows == y.rows and x.request_id == y.request_id and x.entity == y.entity and x.keys == y.keys
    assert x.ts is not None and y.ts is not None and np.array_equal(x.ts, y.ts)
    for u, v in ((x.prediction, y.prediction), (x.probability, y.probability)):
        assert u is not None and v is not None and np.array_equal(u, v, equal_nan=True)
    assert x.columns.keys() == y.columns.keys() == {"plan"} and x.columns["plan"] == y.columns["plan"]


def test_a_key_column_only_later_requests_carry_joins_the_same_in_parts(
    reference: dict[str, Any], tmp_path: Path
) -> None:
    """`flight` (half of the label key) appears only in the last third of the log: one
    read keys every row (cid, flight or None); parts without it must not blank cid."""
    import json

    log = tmp_path / "late_key.jsonl"
    write_log(log, 3_000)
    lines = log.read_text().splitlines()
    for i in range(2_000):
        try:
            r = json.loads(lines[i])
        except ValueError:
            continue
        if isinstance(r.get("inputs"), dict):
            r["inputs"].pop("flight", None)
        lines[i] = json.dumps(r)
    log.write_text("\n".join(lines) + "\n")
    (tmp_path / "parts").mkdir()
    one = whole(log, reference)
    assert one.concept.keys is not None and one.concept.keys[0][0] is not None and one.concept.keys[0][1] is None
    same(one, in_parts(log, reference, 6, tmp_path / "parts"))


def test_the_ranges_hold_every_line_once(log: Path) -> None:
    text = log.read_bytes()
    for parts in (1, 2, 7, 64):
        ranges = log_ranges(log, parts)
        assert ranges[0].start == 0 and ranges[-1].stop == len(text)
        assert all(a.stop == b.start for a, b in zip(ranges, ranges[1:], strict=False))
        assert all(r.start == 0 or text[r.start - 1 : r.start] == b"\n" for r in ranges)


def test_a_log_smaller_than_the_parts_or_empty_is_cut_without_error(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_bytes(b'{"a":1}\n{"b":2}\n')
    assert [(r.start, r.stop) for r in log_ranges(tiny, 64)] == [(0, 8), (8, 16)]
    tiny.write_bytes(b"")
    assert [(r.start, r.stop) for r in log_ranges(tiny, 8)] == [(0, 0)]


def test_an_empty_log_reports_one_empty_window_in_parts_too(reference: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    (tmp_path / "parts").mkdir()
    one, split = whole(empty, reference), in_parts(empty, reference, 8, tmp_path / "parts")
    assert one.windows == split.windows == [("all", 0, {})] and one.features == split.features == {}


@pytest.mark.parametrize("parts", [2, 3, 8, 61])
def test_parts_of_the_log_give_the_same_report(
    log: Path, reference: dict[str, Any], parts: int, tmp_path: Path
) -> None:
    same(whole(log, reference), in_parts(log, reference, parts, tmp_path))
    assert list(tmp_path.iterdir()) == []  # each part removed its copy


def test_weekly_windows_and_a_small_log_take_the_exact_path_alike(reference: dict[str, Any], tmp_path: Path) -> None:
    """3,000 lines: below MAX_EXACT_N, KS is scipy's on every value, not the grid."""
    small = tmp_path / "small.jsonl"
    write_log(small, 3_000)
    (tmp_path / "parts").mkdir()
    one = whole(small, reference, 7 * DAY)
    same(one, in_parts(small, reference, 5, tmp_path / "parts", 7 * DAY))
    assert one.features["fee"]["status"] == "ok" and one.features["fee"]["rows"] < 10_000


def test_one_part_reports_what_monitor_computed_before(log: Path, reference: dict[str, Any]) -> None:
    """The statistics of one read, against the functions monitor called before #18's
    parts (ks_and_shares on the whole column, histogram on both samples): equal; the
    mean shift, now from an exact sum, within rounding."""
    cur = read_log(log, reference, "cid", None, ["cid", "flight"])
    got = whole(log, reference)
    fee = cur.columns["fee"][~np.isnan(cur.columns["fee"])]
    ref = reference["fee"]
    ks, shares = ks_and_shares(ref["sample"], np.asarray(ref["edges"]), fee)
    f = got.features["fee"]
    assert f["rows"] == len(fee) and f["statistic"] == round(ks.statistic, 6)
    assert f["p_value"] == float(f"{ks.p_value:.6g}")
    assert f["psi"] == round(psi_from_shares(np.asarray(ref["shares"]), shares, COV.epsilon), 6)
    assert f["effect"] == pytest.approx((fee.mean() - ref["mean"]) / ref["std"], abs=1e-4)
    assert got.histograms["fee"] == histogram(ref["sample"], fee)
    plans = [p for p in cur.columns["plan"] if p is not None]
    counts = {k: plans.count(k) for k in set(plans)}
    r, c = category_shares(reference["plan"]["counts"], counts)
    assert got.features["plan"]["psi"] == round(psi_from_shares(r, c, COV.epsilon), 6)
    assert "tickets" not in got.features  # no request carries it: not watched
    days = [w for w, _rows, _psi in got.windows]
    assert days[0] == "all" and len(days) == 29 and sum(rows for w, rows, _ in got.windows[1:]) == cur.rows


def test_past_the_sample_size_any_split_plots_the_same(reference: dict[str, Any]) -> None:
    """250,000 current values: the plot's edges come from the current sample, which is
    the same rows in any split because each row's key is its place among all parts."""
    from mlwright.runtime.monitoring.current import Current

    rng = np.random.default_rng(5)
    fee = rng.normal(55, 12, size=250_000)
    fee[rng.random(250_000) < 0.02] = np.nan
    ts = np.sort(rng.integers(0, 30 * DAY, size=250_000)) * 1_000_000

    def part(i: int, a: int, b: int) -> Part:
        n = b - a
        return Part(i, Current({"fee": fee[a:b]}, ts[a:b], [None] * n, [None] * n, None, None, n))

    one = covariates(LocalEngine(), [part(0, 0, 250_000)], reference, COV, DAY, ())
    cuts = [0, 1, 99_999, 180_000, 250_000]
    parts = [part(i, a, b) for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))]
    split = covariates(LocalEngine(), parts, reference, COV, DAY, ())
    assert one.features == split.features and one.windows == split.windows
    assert one.histograms == split.histograms
    assert one.histograms["fee"] != histogram(reference["fee"]["sample"], fee[~np.isnan(fee)])  # edges: a sample's
