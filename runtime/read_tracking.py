"""Which settings a stage reads: the evidence that every setting acts (#16).

With `MLWRIGHT_TRACK_READS=FILE` in the environment, `load_context` hands the stage
its contract (`Params`) wrapped so that every attribute read is recorded, and each stage process appends
`{"stage": ..., "reads": [...]}` to FILE when it exits. A test runs the pipeline this
way and compares what was read with what each stage declares to DVC: a read of an
undeclared section is a stage DVC would not re-run when it should, and a declared
setting nobody reads is a setting that does nothing.

Paths are dotted by the names params.yaml uses, list items as `[]`
(`ingest.sources[].uri`); a path ending in `.*` means the whole mapping or model was
taken (iterated, copied or serialised), which covers everything below it. Off (the default), nothing is wrapped and nothing is written.
"""

from __future__ import annotations

import atexit
import json
import os
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel

if TYPE_CHECKING:
    from mlwright.contract import Params

ENV = "MLWRIGHT_TRACK_READS"
READS: set[str] = set()
_STAGE: list[str] = []


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def tracked(value: Any, path: str) -> Any:
    """`value` wrapped (models, mappings and sequences, all the way down) to record reads under `path`."""
    if isinstance(value, BaseModel):
        return TrackedModel(value, path)
    if isinstance(value, dict):
        return TrackedDict(value, path)
    if isinstance(value, list):
        return TrackedList(value, path)
    if isinstance(value, tuple):
        return TrackedTuple(value, path)
    return value


def tracked_params(params: Params) -> Params:
    """The whole contract, wrapped: a section is a path's start, not a read of it."""
    return cast("Params", TrackedModel(params, ""))


class TrackedModel:
    """A contract model's stand-in that records each field read under its file name.

    Anything else taken from the model (`model_dump`, iteration) takes it whole."""

    def __init__(self, model: BaseModel, path: str) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Any:
        model: BaseModel = object.__getattribute__(self, "_model")
        path: str = object.__getattribute__(self, "_path")
        field = type(model).model_fields.get(name)
        if field is None:
            if path:
                READS.add(f"{path}.*")
            return getattr(model, name)
        key = field.serialization_alias or field.alias or name
        child = f"{path}.{key}" if path else key
        if path:
            READS.add(child)
        return tracked(getattr(model, name), child)

    def __eq__(self, other: object) -> bool:
        """A comparison reads the whole model."""
        model = object.__getattribute__(self, "_model")
        if path := object.__getattribute__(self, "_path"):
            READS.add(f"{path}.*")
        return bool(model == (object.__getattribute__(other, "_model") if isinstance(other, TrackedModel) else other))

    __hash__ = None  # type: ignore[assignment]


class TrackedTuple(tuple[Any, ...]):
    def __new__(cls, data: tuple[Any, ...], path: str) -> TrackedTuple:
        return super().__new__(cls, (tracked(v, f"{path}[]") for v in data))


class TrackedDict(dict[str, Any]):
    """A dict that records each key read; iterating it records the whole mapping."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        super().__init__({k: tracked(v, f"{path}.{k}") for k, v in data.items()})
        self._path = path

    def _whole(self) -> None:
        READS.add(f"{self._path}.*")

    def __getitem__(self, key: str) -> Any:
        READS.add(f"{self._path}.{key}")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        READS.add(f"{self._path}.{key}")
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        READS.add(f"{self._path}.{key}")
        return super().__contains__(key)

    def __iter__(self) -> Any:
        self._whole()
        return super().__iter__()

    def keys(self) -> Any:
        self._whole()
        return super().keys()

    def items(self) -> Any:
        self._whole()
        return super().items()

    def values(self) -> Any:
        self._whole()
        return super().values()


class TrackedList(list[Any]):
    def __init__(self, data: list[Any], path: str) -> None:
        super().__init__(tracked(v, f"{path}[]") for v in data)


def start(stage: str) -> None:
    """Record this process's reads under `stage`, written out when it exits."""
    if not enabled() or _STAGE:
        return
    _STAGE.append(stage)
    import yaml

    yaml.SafeDumper.add_representer(TrackedDict, yaml.representer.SafeRepresenter.represent_dict)
    yaml.SafeDumper.add_representer(TrackedList, yaml.representer.SafeRepresenter.represent_list)
    yaml.SafeDumper.add_representer(TrackedTuple, yaml.representer.SafeRepresenter.represent_list)
    atexit.register(_write)


def _write() -> None:
    with open(os.environ[ENV], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"stage": _STAGE[0], "reads": sorted(READS)}) + "\n")
