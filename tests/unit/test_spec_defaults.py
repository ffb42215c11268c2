"""What a short spec means: no features section -> each input is a feature as it is;
no event time -> random split and k-fold CV; `training:` without a backend ->
LightGBM; `rename:` maps a file's headers to identifiers, checked at compile time
and applied at ingest."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from mlwright.compiler import SpecError
from mlwright.compiler.api import load_spec
from mlwright.runtime.context import UserError
from mlwright.runtime.data.sources import apply_rename

SHORT = """\
name: short
version: 0.1.0
spec:
  task: binary_classification
  target: label
  entity: id
  inputs: [id, size, colour]
data:
  sources:
    - {name: items, uri: data/items.csv, format: csv, rename: {"Item ID": id, "Size (cm)": size}}
expectations:
  schema:
    items:
      id: {type: string}
      size: {type: float}
      colour: {type: category}
      label: {type: bool}
training:
  hpo: {trials: 2}
"""


def spec_at(tmp_path: Path, text: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "system.yaml"
    path.write_text(text)
    return path


def test_a_short_spec_gets_the_defaults_a_table_needs(tmp_path: Path) -> None:
    spec = load_spec(spec_at(tmp_path, SHORT))
    assert [(f.name, f.from_, f.expr) for f in spec.features.definitions] == [
        ("size", "items", "size"),
        ("colour", "items", "colour"),
    ]
    assert [f.encoding for f in spec.features.definitions] == ["none", "category"]  # as the schema types them
    assert spec.features.entity == "id" and spec.features.timestamp is None
    assert spec.training.backend == "lightgbm" and spec.training.hpo.trials == 2
    assert spec.training.split.strategy == "random" and spec.training.cv.strategy == "kfold"
    assert sorted(spec.training.hpo.space) == ["learning_rate", "min_child_samples", "num_leaves"]  # trials search


def test_fixed_parameters_mean_one_trial(tmp_path: Path) -> None:
    spec = load_spec(spec_at(tmp_path, SHORT.replace("hpo: {trials: 2}", "hpo: {space: {}}")))
    assert spec.training.hpo.space == {} and spec.training.hpo.trials == 1


def test_written_choices_win_over_the_defaults(tmp_path: Path) -> None:
    text = SHORT.replace("training:\n  hpo: {trials: 2}\n", "training:\n  split: {strategy: time}\n")
    with pytest.raises(SpecError) as err:
        load_spec(spec_at(tmp_path, text))
    assert "training.split.strategy: a time split needs spec.timestamp" in str(err.value)


def test_an_input_no_single_source_declares_is_named_with_the_reason(tmp_path: Path) -> None:
    text = SHORT.replace("inputs: [id, size, colour]", "inputs: [id, size, colour, weight]")
    with pytest.raises(SpecError) as err:
        load_spec(spec_at(tmp_path, text))
    message = str(err.value)
    assert "system.yaml:7:30: error: spec.inputs[3]: input 'weight' is not a feature" in message
    assert "'weight' is declared by no source" in message


def test_two_headers_renamed_to_one_name_is_an_error(tmp_path: Path) -> None:
    text = SHORT.replace('"Size (cm)": size}', '"Size (cm)": size, "size_mm": size}')
    with pytest.raises(SpecError) as err:
        load_spec(spec_at(tmp_path, text))
    assert "data.sources[0].rename.size_mm: 'size_mm' and 'Size (cm)' are both renamed to 'size'" in str(err.value)


def test_rename_at_ingest_is_strict_and_for_batch_files_lenient() -> None:
    table = pa.table({"Item ID": ["a"], "Size (cm)": [1.0], "colour": ["red"]})
    renamed = apply_rename(table, {"Item ID": "id", "Size (cm)": "size"}, "items.csv")
    assert renamed.column_names == ["id", "size", "colour"]
    with pytest.raises(UserError, match=r"items\.csv: rename: no column 'Weight' in the file"):
        apply_rename(table, {"Weight": "weight"}, "items.csv")
    with pytest.raises(UserError, match="already has a 'colour' column"):
        apply_rename(table, {"Size (cm)": "colour"}, "items.csv")
    # a batch file already in the spec's names passes through
    assert apply_rename(renamed, {"Item ID": "id"}, "batch", strict=False).column_names == ["id", "size", "colour"]


def test_a_features_section_without_definitions_still_derives_them(tmp_path: Path) -> None:
    text = SHORT + "features:\n  store:\n    online: {backend: sqlite, ttl: 7d}\n"
    spec = load_spec(spec_at(tmp_path, text))
    assert [f.name for f in spec.features.definitions] == ["size", "colour"] and spec.features.entity == "id"
    assert spec.features.store.online.ttl == "7d"


def test_files_for_predict_and_monitor_are_read_by_suffix(tmp_path: Path) -> None:
    from mlwright.runtime.data.sources import read_table_file

    (tmp_path / "labels.csv").write_text("id,label\n007,1\n")
    assert read_table_file(tmp_path / "labels.csv", ["id"]).column("id").to_pylist() == ["007"]
    assert read_table_file(tmp_path / "labels.csv").column("id").to_pylist() == [7]
    (tmp_path / "labels.txt").write_text("id,label\n")
    with pytest.raises(UserError, match=r"labels\.txt: unsupported format"):
        read_table_file(tmp_path / "labels.txt")


def test_a_regression_spec_gets_defaults_that_fit_an_error_metric(tmp_path: Path) -> None:
    from mlwright.compiler.lower import register_floor

    regression = SHORT.replace("binary_classification", "regression").replace(
        "label: {type: bool}", "label: {type: float}"
    )
    spec = load_spec(spec_at(tmp_path, regression))
    assert spec.spec.metric.name == "rmse" and spec.monitoring.concept.metric == "rmse"  # not F-beta, f1
    assert register_floor(spec) is None  # no 0.5 floor on an error in the target's units
    mae = load_spec(spec_at(tmp_path, regression.replace("  inputs:", "  metric: {name: mae}\n  inputs:")))
    assert mae.monitoring.concept.metric == "mae"
    written = regression + "  register: {min_metric: 12.5}\n"
    assert register_floor(load_spec(spec_at(tmp_path, written))) == 12.5
    assert register_floor(load_spec(spec_at(tmp_path, SHORT))) == 0.5  # a score: 0.5 is chance


def test_parquet_written_by_pandas_keeps_its_times_and_text() -> None:
    """pandas writes nanosecond timestamps and large strings; a safe cast to the
    microseconds the stages use refused sub-microsecond parts, and the column fell
    back to text (validation then said "values are not timestamp")."""
    import pandas as pd

    from mlwright.runtime.data.sources import cast_declared

    ts = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta([0.123456789, 86400.000000001], unit="s"))
    table = pa.table(
        {
            "seen": pa.array(ts),
            "seen_rome": pa.array(ts).cast(pa.timestamp("ns", tz="Europe/Rome")),  # same instants, zoned
            "tier": pa.array(["gold", "silver"], pa.large_string()),
            "when": pa.array(["2026-01-01T00:00:00", None], pa.large_string()),
        }
    )
    out = cast_declared(table, {"seen": "timestamp", "seen_rome": "timestamp", "tier": "category", "when": "timestamp"})
    assert [f.type for f in out.schema] == [pa.timestamp("us"), pa.timestamp("us"), pa.string(), pa.timestamp("us")]
    first = out.to_pylist()[0]
    assert first["seen"].microsecond == 123456 and first["seen_rome"] == first["seen"]  # the instant, in UTC


def test_event_times_of_files_handed_to_monitor_parse_as_at_ingest() -> None:
    from mlwright.runtime.data.sources import event_times_us

    ns = pa.chunked_array([pa.array([1_767_225_600_123_456_789], pa.timestamp("ns"))])
    assert event_times_us(ns, "f").to_pylist() == [1_767_225_600_123_456]
    rome = pa.chunked_array([pa.array([1_767_225_600_000_000], pa.timestamp("us", tz="Europe/Rome"))])
    assert event_times_us(rome, "f").to_pylist() == [1_767_225_600_000_000]  # the instant
    text = pa.chunked_array([pa.array(["2026-01-01T00:00:00", None])])
    assert event_times_us(text, "f").to_pylist() == [1_767_225_600_000_000, None]
    with pytest.raises(UserError, match="labels.csv: seen_at: event times are not timestamps"):
        event_times_us(pa.chunked_array([pa.array(["last tuesday"])]), "labels.csv: seen_at")


def test_a_timed_spec_without_a_training_section_searches_the_default_space(tmp_path: Path) -> None:
    """No `training:` at all and an event time: the default trials search the default
    space (this once failed: "20 trials, but training.hpo.space is empty")."""
    text = SHORT.replace("training:\n  hpo: {trials: 2}\n", "").replace(
        "  entity: id\n", "  entity: id\n  timestamp: at\n"
    )
    text = text.replace("      label: {type: bool}\n", "      label: {type: bool}\n      at: {type: timestamp}\n")
    spec = load_spec(spec_at(tmp_path, text))
    assert spec.training.backend == "lightgbm" and spec.training.split.strategy == "time"
    assert spec.training.hpo.trials > 1 and sorted(spec.training.hpo.space) == [
        "learning_rate",
        "min_child_samples",
        "num_leaves",
    ]
