"""`mlwright init`: a starter spec from data files compiles and runs first time (#20 item 3).

Tables nobody here shaped, as they ship: scikit-learn's breast-cancer (headers with
spaces), wine (three cultivars) and diabetes (a regression) tables, each with a row id
added (none of them has one, and an entity is required); vega_datasets' stocks (a
timed regression, ISO dates); and the churn reference data (a timed label table
plus a Parquet folder of payments joined as of each row's time).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ..conftest import FAST, run_cli

pytestmark = pytest.mark.slow


def sklearn_table(loader: str, target: str) -> pd.DataFrame:
    import sklearn.datasets

    frame = getattr(sklearn.datasets, loader)(as_frame=True).frame.rename(columns={"target": target})
    frame.insert(0, "row id", [f"R{i:04d}" for i in range(len(frame))])
    return frame


def cancer(folder: Path) -> list[str]:
    frame = sklearn_table("load_breast_cancer", "diagnosis")
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    frame.to_csv(folder / "cancer.csv", index=False)
    return ["cancer.csv", "--target", "diagnosis"]


def wine(folder: Path) -> list[str]:
    sklearn_table("load_wine", "cultivar").to_parquet(folder / "wine.parquet")
    return ["wine.parquet", "--target", "cultivar"]


def diabetes(folder: Path) -> list[str]:
    sklearn_table("load_diabetes", "progression").to_csv(folder / "diabetes.csv", index=False)
    return ["diabetes.csv", "--target", "progression"]


def stocks(folder: Path) -> list[str]:
    from vega_datasets import local_data

    local_data.stocks().to_csv(folder / "stocks.csv", index=False)
    return ["stocks.csv", "--target", "price", "--entity", "symbol", "--timestamp", "date"]


def churn(folder: Path) -> list[str]:
    generator = Path(__file__).resolve().parents[2] / "pipelines" / "churn" / "generate.py"
    subprocess.run(
        [sys.executable, str(generator), "--out", str(folder / "data"), "--rows", "1500"],
        check=True,
        capture_output=True,
    )
    return [
        "data/events.csv",
        "data/payments/*.parquet",
        "--target",
        "churned",
        "--entity",
        "customer_id",
        "--timestamp",
        "event_time",
    ]


TABLES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "cancer": (cancer, "binary_classification"),
    "wine": (wine, "multiclass_classification"),
    "diabetes": (diabetes, "regression"),
    "stocks": (stocks, "regression"),
    "churn": (churn, "binary_classification"),
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_an_inferred_spec_compiles_and_runs_first_time(tmp_path: Path, table: str) -> None:
    make, task = TABLES[table]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    args = make(tmp_path)
    out = run_cli("init", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    spec = yaml.safe_load((tmp_path / "system.yaml").read_text())
    assert spec["spec"]["task"] == task
    name = spec["name"]
    assert run_cli("compile", "system.yaml", *FAST, cwd=tmp_path).returncode == 0
    run = run_cli("run", f"build/{name}", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    again = run_cli("init", *args, cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr  # never overwritten silently


def test_headers_renamed_and_choices_commented(tmp_path: Path) -> None:
    args = cancer(tmp_path)
    assert run_cli("init", *args, cwd=tmp_path).returncode == 0
    text = (tmp_path / "system.yaml").read_text()
    spec = yaml.safe_load(text)
    source = spec["data"]["sources"][0]
    assert source["rename"]["mean radius"] == "mean_radius" and source["rename"]["row id"] == "row_id"
    assert spec["spec"]["entity"] == "row_id"
    schema = spec["expectations"]["schema"]["cancer"]
    assert schema["diagnosis"] == {"type": "category", "nullable": False, "values": ["benign", "malignant"]}
    assert schema["mean_radius"]["min"] <= 6.981 and schema["mean_radius"]["max"] >= 28.11
    assert "# the target has 2 values" in text and "10% margin" in text


def test_what_cannot_be_inferred_is_refused_with_the_fix(tmp_path: Path) -> None:
    frame = sklearn_table("load_wine", "cultivar").drop(columns=["row id"])
    frame.to_csv(tmp_path / "wine.csv", index=False)
    out = run_cli("init", "wine.csv", "--target", "cultivar", cwd=tmp_path)
    assert out.returncode == 2 and "no column of the target's file is unique" in out.stderr and "--entity" in out.stderr
    from vega_datasets import local_data

    raw = (
        local_data.stocks(parse_dates=False)
        if "parse_dates" in local_data.stocks.__call__.__code__.co_varnames
        else None
    )
    if raw is None:  # the file as shipped: "Jan 1 2000"
        import vega_datasets

        raw = pd.read_csv(Path(vega_datasets.__file__).parent / "_data" / "stocks.csv")
    raw.to_csv(tmp_path / "stocks.csv", index=False)
    out = run_cli("init", "stocks.csv", "--target", "price", "--entity", "symbol", "--timestamp", "date", cwd=tmp_path)
    assert out.returncode == 2 and "'Jan 1 2000'" in out.stderr and "ISO 8601" in out.stderr, out.stderr
    out = run_cli("init", "stocks.csv", "--target", "close", cwd=tmp_path)
    assert out.returncode == 2 and "'close' is in none of the files" in out.stderr
    assert not (tmp_path / "system.yaml").exists(), "nothing written on a refusal"


def test_data_outside_the_project_is_refused_with_the_reason(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    diabetes(tmp_path)  # the file lands beside the project, not in it
    out = run_cli("init", "../diabetes.csv", "--target", "progression", cwd=project)
    assert out.returncode == 2 and "not written" in out.stderr and "inside the project" in out.stderr, out.stderr
    assert not (project / "system.yaml").exists()
