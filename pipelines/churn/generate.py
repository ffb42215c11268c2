"""Synthetic churn data with real signal, deterministic from a seed.

Writes, under --out (default: data/ beside this file):
  events.csv              one row per customer event, with the churn label
  payments/part-YYYY.parquet  payments (the 90-day spend/count features come from these)
  score/batch-000.parquet     a later, unlabeled batch for `mlwright predict`
  labels/delayed.csv          ground truth for that batch, arriving later (concept drift)

Scenarios: --shift-fee SD moves monthly_fee by SD standard deviations (validation
must catch it); --drift-batch-fee SD does the same to the scoring batch only
(covariate drift that `monitor` must catch); --churn-stops XX: a retention programme in country XX means
nobody there churns any more, which the inputs cannot show (concept drift
confined to one slice); --flip-country XX flips that country's delayed labels;
--drop-share S flips a share S of all delayed labels.
"""

from __future__ import annotations

import argparse
import csv
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

START = datetime(2023, 1, 1)
DAYS = 730
PLANS = ["basic", "pro", "enterprise"]
FEES = {"basic": (20.0, 5.0), "pro": (60.0, 10.0), "enterprise": (250.0, 40.0)}
COUNTRIES = ["US", "DE", "FR", "GB", "BR"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    plan = rng.choice(PLANS, size=n, p=[0.5, 0.35, 0.15])
    mean = np.array([FEES[p][0] for p in plan])
    sd = np.array([FEES[p][1] for p in plan])
    return {
        "id": np.array([f"C{i:06d}" for i in range(n)]),
        "plan": plan,
        "fee": np.round(np.clip(rng.normal(mean, sd), 1.0, 999.0), 2),
        "country": rng.choice(COUNTRIES, size=n, p=[0.35, 0.2, 0.15, 0.15, 0.15]),
        "engagement": rng.normal(0.0, 1.0, size=n),
    }


def payments(rng: np.random.Generator, cust: dict[str, np.ndarray], days: int) -> pa.Table:
    ids, times, amounts = [], [], []
    months = days // 30 + 1
    for i, cid in enumerate(cust["id"]):
        p_pay = _sigmoid(0.8 + 2.0 * cust["engagement"][i])
        for m in range(months):
            if rng.random() < p_pay:
                t = START + timedelta(days=30 * m + int(rng.integers(0, 30)), seconds=int(rng.integers(0, 86400)))
                ids.append(cid)
                times.append(t)
                amounts.append(round(float(cust["fee"][i] * rng.uniform(0.8, 1.2)), 2))
    return pa.table({"customer_id": ids, "paid_at": pa.array(times, pa.timestamp("us")), "amount": amounts})


def events(
    rng: np.random.Generator, cust: dict[str, np.ndarray], rows: int, start_day: int, days: int
) -> dict[str, list]:
    n = len(cust["id"])
    who = rng.integers(0, n, size=rows)
    offsets = rng.integers(start_day * 86400, (start_day + days) * 86400, size=rows)
    eng = cust["engagement"][who]
    tickets = rng.poisson(np.exp(0.3 - 0.6 * eng))
    plan = cust["plan"][who]
    logit = -2.6 - 1.8 * eng + 0.45 * tickets + 0.8 * (plan == "basic") - 0.6 * (plan == "enterprise")
    churned = rng.random(rows) < _sigmoid(logit)
    out = {
        "customer_id": cust["id"][who],
        "event_time": [(START + timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%S") for s in offsets],
        "plan": plan,
        "monthly_fee": cust["fee"][who],
        "support_tickets": tickets,
        "country": cust["country"][who],
        "churned": churned,
    }
    order = np.lexsort((out["customer_id"], np.array(out["event_time"])))
    keep, seen = [], set()
    for i in order:  # (customer_id, event_time) is unique
        key = (out["customer_id"][i], out["event_time"][i])
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return {k: [v[i] for i in keep] for k, v in out.items()}


def write_csv(path: Path, columns: dict[str, list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        names = list(columns)
        w.writerow(names)
        for row in zip(*(columns[n] for n in names), strict=True):
            w.writerow(
                ["true" if v is True or v is np.True_ else "false" if v is False or v is np.False_ else v for v in row]
            )
    os.replace(tmp, path)


def generate(
    out: Path,
    rows: int,
    seed: int,
    shift_fee: float,
    flip_country: str | None,
    drop_share: float,
    churn_stops: str | None = None,
    drift_batch_fee: float = 0.0,
) -> None:
    rng = np.random.default_rng(seed)
    cust = customers(rng, max(50, rows // 5))
    pay = payments(rng, cust, DAYS + 120)
    years = pc.year(pay["paid_at"]).to_numpy()
    (out / "payments").mkdir(parents=True, exist_ok=True)
    for year in sorted(set(years.tolist())):
        pq.write_table(pay.filter(pa.array(years == year)), out / "payments" / f"part-{year}.parquet")
    ev = events(rng, cust, rows, 0, DAYS)
    if shift_fee:
        sd = float(np.std(ev["monthly_fee"]))
        ev["monthly_fee"] = [round(float(f) + shift_fee * sd, 2) for f in ev["monthly_fee"]]
    write_csv(out / "events.csv", ev)
    later = events(rng, cust, max(200, rows // 5), DAYS, 90)
    labels = {"customer_id": later["customer_id"], "event_time": later["event_time"], "churned": list(later["churned"])}
    if flip_country:
        labels["churned"] = [
            (not y) if c == flip_country else y for y, c in zip(labels["churned"], later["country"], strict=True)
        ]
    if churn_stops:
        labels["churned"] = [
            False if c == churn_stops else y for y, c in zip(labels["churned"], later["country"], strict=True)
        ]
    if drop_share:
        flip = rng.random(len(labels["churned"])) < drop_share
        labels["churned"] = [(not y) if f else y for y, f in zip(labels["churned"], flip, strict=True)]
    batch = {k: v for k, v in later.items() if k != "churned"}
    if drift_batch_fee:  # the scoring batch drifts, training data does not: what `monitor` must catch
        sd = float(np.std(batch["monthly_fee"]))
        batch["monthly_fee"] = [round(float(f) + drift_batch_fee * sd, 2) for f in batch["monthly_fee"]]
    table = pa.table(
        {**batch, "event_time": pa.array([datetime.fromisoformat(t) for t in batch["event_time"]], pa.timestamp("us"))}
    )
    (out / "score").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "score" / "batch-000.parquet")
    write_csv(out / "labels" / "delayed.csv", labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shift-fee", type=float, default=0.0)
    ap.add_argument("--flip-country", default=None)
    ap.add_argument("--drop-share", type=float, default=0.0)
    ap.add_argument("--churn-stops", default=None)
    ap.add_argument("--drift-batch-fee", type=float, default=0.0)
    a = ap.parse_args()
    generate(a.out, a.rows, a.seed, a.shift_fee, a.flip_country, a.drop_share, a.churn_stops, a.drift_batch_fee)
    print(f"churn data -> {a.out}")


if __name__ == "__main__":
    main()
