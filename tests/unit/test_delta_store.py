"""The Delta offline store: versions by dataset, time travel, types and order kept, tampering named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwright.contract.errors import GateFailed, UserError
from mlwright.runtime.stores.delta_store import chosen, history, read_version, write_version

pytest.importorskip("deltalake")


def training_table(rows: int, shift: float = 0.0) -> pa.Table:
    """Types featurize writes: dictionary categories, microsecond times, nulls, ties."""
    start = dt.datetime(2024, 1, 1)
    return pa.table(
        {
            "customer_id": pa.array([f"C{i % 37:04d}" for i in range(rows)]),
            "__ts": pa.array([start + dt.timedelta(seconds=(i // 3) * 61) for i in range(rows)], pa.timestamp("us")),
            "plan": pa.array(["basic", "pro", None][i % 3] for i in range(rows)).dictionary_encode(),
            "spend_90d": pa.array([None if i % 11 == 0 else i * 0.1 + shift for i in range(rows)], pa.float64()),
            "payments_90d": pa.array([i % 5 for i in range(rows)], pa.int64()),
            "nothing": pa.nulls(rows),
            "churned": pa.array([i % 4 == 0 for i in range(rows)]),
        }
    )


def meta(dataset: str, features: str = "f" * 64) -> dict[str, object]:
    return {"dataset_version": dataset, "feature_set_hash": features, "features": ["plan", "spend_90d"]}


def test_a_version_reads_back_as_the_parquet_store_holds_it(tmp_path: Path) -> None:
    table = training_table(5000)
    write_version(tmp_path / "offline", table, meta("a" * 64))
    got, recorded = read_version(tmp_path / "offline", None)
    pq.write_table(table, tmp_path / "part.parquet")  # what the Parquet store keeps
    assert got.equals(pq.read_table(tmp_path / "part.parquet"), check_metadata=True)
    assert got.schema == table.schema and got.equals(table)
    assert recorded["delta_version"] == 0 and recorded["features"] == ["plan", "spend_90d"]


def test_each_dataset_version_is_a_delta_version_and_as_of_reads_an_earlier_one(tmp_path: Path) -> None:
    folder = tmp_path / "offline"
    first, second = training_table(300), training_table(400, shift=1.0)
    write_version(folder, first, meta("1a2b3c4d" + "0" * 56))
    write_version(folder, second, meta("9f8e7d6c" + "0" * 56))
    again = write_version(folder, second, meta("9f8e7d6c" + "0" * 56))  # a forced re-run: nothing new
    assert again["delta_version"] == 1
    versions = history(folder)
    assert [(v.version, v.dataset_version[:8], v.rows) for v in versions] == [
        (1, "9f8e7d6c", 400),
        (0, "1a2b3c4d", 300),
    ]
    assert read_version(folder, None)[0].equals(second)
    assert read_version(folder, "1a2b3c4d")[0].equals(first)
    assert read_version(folder, "9f8e7d6c" + "0" * 56)[0].equals(second)


def test_as_of_refuses_unknown_ambiguous_and_other_feature_sets(tmp_path: Path) -> None:
    folder = tmp_path / "offline"
    write_version(folder, training_table(50), meta("abcd0001" + "0" * 56))
    write_version(folder, training_table(60), meta("abcd0002" + "0" * 56))
    with pytest.raises(UserError, match="no version .* holds dataset version '12345678'"):
        chosen(folder, "12345678")
    with pytest.raises(UserError, match="prefix of 2 dataset versions"):
        chosen(folder, "abcd000")
    write_version(folder, training_table(70), meta("abcd0003" + "0" * 56, features="e" * 64))
    with pytest.raises(UserError, match="another feature set"):
        chosen(folder, "abcd0001")
    assert chosen(folder, "abcd0003").version == 2


def test_a_changed_data_file_or_a_missing_sidecar_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "offline"
    write_version(folder, training_table(200), meta("c" * 64))
    data = next(folder.glob("*.parquet"))
    body = bytearray(data.read_bytes())
    body[len(body) // 2] ^= 0xFF
    data.write_bytes(bytes(body))
    with pytest.raises(GateFailed, match=f"{data.name}: changed after featurize wrote it"):
        read_version(folder, None)
    write_version(folder, training_table(200), meta("c" * 64))  # not current any more: a new version
    (folder / "_mlwright" / "v00000001.json").unlink()
    with pytest.raises(GateFailed, match="v00000001.json: missing"):
        read_version(folder, None)


def test_a_dictionary_column_in_many_chunks_reads_back_as_its_values_under_one_dictionary(tmp_path: Path) -> None:
    table = pa.concat_tables([training_table(100), training_table(100, shift=2.0)])  # two chunks, two dictionaries
    write_version(tmp_path / "offline", table, meta("d" * 64))
    got, _ = read_version(tmp_path / "offline", None)
    assert got.column("plan").num_chunks == 1 and got.schema == table.schema
    assert got.column("plan").to_pylist() == table.column("plan").to_pylist()
    assert got.drop_columns(["plan"]).equals(table.drop_columns(["plan"]))


def test_a_parquet_store_left_in_the_folder_is_replaced_by_the_delta_table(tmp_path: Path) -> None:
    folder = tmp_path / "offline"
    folder.mkdir()
    pq.write_table(training_table(10), folder / "part-00000.parquet")  # the store before format: delta
    (folder / "_metadata.json").write_text("{}")
    write_version(folder, training_table(30), meta("e" * 64))
    assert not (folder / "_metadata.json").exists() and not (folder / "part-00000.parquet").exists()
    assert read_version(folder, None)[0].num_rows == 30
