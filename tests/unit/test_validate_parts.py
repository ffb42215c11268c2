"""#18 item 6: validate over parts of a snapshot equals validate over the whole snapshot.

Real tables nobody here shaped (vega_datasets' `cars`: repeated names, missing
mileage and horsepower, three origins; `sf_temps`: hourly temperatures full of ties),
written as Parquet with small row groups, split into 1..n contiguous row ranges
(uneven, more ranges than row groups, one range per row): every outcome, count,
example, profile (sample included, bit for bit) and summary row must be the same.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwright.contract.validate import (
    ColumnCheck,
    CrossFieldCheck,
    DistributionChecks,
    TargetChecks,
    ValidateParams,
)
from mlwright.runtime.data.snapshot_parts import read_range, row_ranges
from mlwright.runtime.stats.sample import MAX_SAMPLE, merged_sample, sample_part
from mlwright.runtime.validation.parts import Facts, PartJob, facts, part_facts

from .test_target_layer import column


def check(type_: str, **kw: Any) -> ColumnCheck:
    return ColumnCheck(**(column(type_) | kw))


def params(schema: dict[str, dict[str, ColumnCheck]], **kw: Any) -> ValidateParams:
    base: dict[str, Any] = {
        "task": "multiclass_classification",
        "target": "Origin",
        "entity": "Name",
        "timestamp": "Year",
        "name": "cars",
        "label_source": "cars",
        "schema": schema,
        "cross_field": (),
        "distribution": DistributionChecks(reference="previous", continuous="ks", categorical="chi2", p_value=0.01),
        "target_proportion": TargetChecks(max_class_proportion_deviation=0.1),
        "overrides": (),
    }
    return ValidateParams(**(base | kw))


@pytest.fixture(scope="module")
def cars(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ValidateParams]:
    from vega_datasets import data

    table = pa.Table.from_pandas(data.cars(), preserve_index=False)
    path = tmp_path_factory.mktemp("cars") / "cars.parquet"
    pq.write_table(table, path, row_group_size=37)  # 11 uneven row groups
    schema = {
        "cars": {
            "Name": check("string", unique=True),  # 95 repeats, some across parts
            "Miles_per_Gallon": check("float", nullable=False, min=10.0),  # 8 nulls, 1 below 10
            "Cylinders": check("category", values=("4", "6", "8")),  # ints where text is declared
            "Displacement": check("float"),
            "Horsepower": check("float", max=200.0),  # missing values and some above 200
            "Weight_in_lbs": check("int", unique_with=("Year",)),
            "Acceleration": check("float", min=9.0),
            "Year": check("timestamp"),
            "Origin": check("category", values=("USA", "Europe")),  # Japan is not allowed
            "Colour": check("category"),  # not in the table
        }
    }
    cross = (
        CrossFieldCheck(name="light", table="cars", check="Weight_in_lbs < 4500"),
        CrossFieldCheck(name="any", table="cars", check="Cylinders > 2"),
    )
    return str(path), params(schema, cross_field=cross)


def in_parts(path: str, cfg: ValidateParams, parts: int, source: str = "cars") -> Facts:
    return facts([part_facts(PartJob(source, rows, cfg)) for rows in row_ranges(path, parts)], cfg)


def same(a: Facts, b: Facts) -> None:
    assert [asdict(o) for o in a.outcomes] == [asdict(o) for o in b.outcomes]
    assert a.summary == b.summary
    assert a.profile["target"] == b.profile["target"]
    assert a.profile["columns"].keys() == b.profile["columns"].keys()
    for name, p in a.profile["columns"].items():
        q = b.profile["columns"][name]
        assert {k: v for k, v in p.items() if k != "sample"} == {k: v for k, v in q.items() if k != "sample"}, name
        if "sample" in p:
            assert np.array_equal(p["sample"], q["sample"]), name


def test_the_ranges_cover_every_row_once_in_order(cars: tuple[str, ValidateParams]) -> None:
    path, _ = cars
    whole = pq.read_table(path)
    for parts in (1, 4, 11, 13, 406, 1000):
        ranges = row_ranges(path, parts)
        assert len(ranges) == min(parts, 406)
        assert pa.concat_tables([read_range(r) for r in ranges]).equals(whole)


@pytest.mark.parametrize("parts", [2, 3, 11, 13, 406])
def test_validate_in_parts_equals_one_part(cars: tuple[str, ValidateParams], parts: int) -> None:
    path, cfg = cars
    same(in_parts(path, cfg, 1), in_parts(path, cfg, parts))


def test_the_whole_table_fails_what_it_should(cars: tuple[str, ValidateParams]) -> None:
    """The sum is right, not only equal: counts against pandas on the same table."""
    from vega_datasets import data

    df = data.cars()
    path, cfg = cars
    found = {o.id: o for o in in_parts(path, cfg, 13).outcomes}
    failed = {k for k, o in found.items() if o.status == "failed"}
    assert failed == {
        "schema.cars.Name.unique",
        "schema.cars.Miles_per_Gallon.nullable",
        "schema.cars.Miles_per_Gallon.range",
        "schema.cars.Cylinders.type",
        "schema.cars.Horsepower.range",
        "schema.cars.Acceleration.range",
        "schema.cars.Origin.values",
        "schema.cars.Colour.present",
        "cross_field.light",
    } | ({"schema.cars.Weight_in_lbs.unique"} if df.duplicated(["Weight_in_lbs", "Year"]).any() else set())
    assert found["schema.cars.Name.unique"].observed["count"] == int(df.Name.duplicated().sum())
    first_repeats = df.Name[df.Name.duplicated(keep=False)].drop_duplicates().head(20).tolist()
    assert found["schema.cars.Name.unique"].examples == [f"Name={n}" for n in first_repeats]
    assert found["schema.cars.Origin.values"].observed["count"] == int((df.Origin == "Japan").sum())
    assert found["schema.cars.Horsepower.range"].observed["count"] == int((df.Horsepower > 200).sum())
    assert found["schema.cars.Horsepower.range"].examples == [str(v) for v in df.Horsepower[df.Horsepower > 200]][:20]
    assert found["cross_field.light"].observed["count"] == int((df.Weight_in_lbs >= 4500).sum())
    assert found["schema.cars.Colour.present"].observed == {"count": 406, "percent": 100.0}


def test_the_sample_is_the_same_rows_in_any_split_past_its_size(tmp_path: Path) -> None:
    """sf_temps 30 times over (262,770 rows, few distinct values): past MAX_SAMPLE rows the
    profile is a sample, and it is the same sample in 1, 5 or 17 parts."""
    from vega_datasets import data

    temps = pa.Table.from_pandas(data.sf_temps(), preserve_index=False)
    table = pa.concat_tables([temps] * 30)
    path = tmp_path / "temps.parquet"
    pq.write_table(table, path, row_group_size=50_000)
    cfg = params(
        {"temps": {"temp": check("float"), "date": check("timestamp")}},
        task="regression",
        target="temp",
        entity="none",
        timestamp="date",
        label_source="temps",
    )
    one = in_parts(str(path), cfg, 1, "temps")
    sample = one.profile["columns"]["temps.temp"]["sample"]
    assert len(sample) == MAX_SAMPLE < table.num_rows
    assert np.isin(sample, table.column("temp").to_numpy()).all()
    for parts in (5, 17):
        same(one, in_parts(str(path), cfg, parts, "temps"))


def test_a_merged_sample_is_the_whole_columns_sample() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=50_000)
    values[rng.random(50_000) < 0.01] = np.nan
    whole = merged_sample([sample_part(values, np.arange(50_000), size=1000)], size=1000)
    cuts = [0, 7, 7, 12_000, 31_313, 50_000]
    parts = [sample_part(values[a:b], np.arange(a, b), size=1000) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.array_equal(merged_sample(parts, size=1000), whole)
    assert len(whole) == 1000 and not np.isnan(whole).any()
    # a uniform choice: its mean is the column's within a few standard errors
    assert abs(whole.mean() - np.nanmean(values)) < 4 * np.nanstd(values) / np.sqrt(1000)
