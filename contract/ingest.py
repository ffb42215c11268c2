"""ingest: which files each source is, how to read them, and the manifest's digest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Section

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "category", "image"]


class _Source(Section):
    name: str
    uri: str  # relative to the spec folder (source_root), or a remote URL; may be a glob
    columns: dict[str, str]  # declared column -> type (expectations.schema), sorted


class _TabularSource(_Source):
    rename: dict[str, str] = {}  # file column -> spec name


class CsvSource(_TabularSource):
    format: Literal["csv"]
    delimiter: str


class ParquetSource(_TabularSource):
    format: Literal["parquet"]


class JsonlSource(_TabularSource):
    format: Literal["jsonl"]


class DicomSource(_Source):
    format: Literal["dicom"]
    metadata: dict[str, tuple[str, ...]] = {}  # column -> the DICOM keywords it is read from


Source = Annotated[CsvSource | ParquetSource | JsonlSource | DicomSource, Field(discriminator="format")]


class IngestParams(Section):
    source_root: str  # the spec's folder, relative to the build folder
    sources: tuple[Source, ...]
    manifest: Literal["sha256"]
