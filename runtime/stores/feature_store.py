"""`FeatureStore`: online feature retrieval by entity id, from a compiled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlwright.runtime.context import load_context
from mlwright.runtime.stores.delta_store import OfflineVersion
from mlwright.runtime.stores.online_store import OnlineStore, open_store


class FeatureStore:
    """The online store configured in a compiled folder (`features.store.online`)."""

    def __init__(self, target: Path):
        ctx = load_context(target)
        self.store: OnlineStore = open_store(
            ctx.params.featurize.online,
            ctx.root,
            ctx.params.featurize.name,
            readonly=ctx.params.featurize.online.backend == "sqlite",
        )

    def get_online(self, entity_ids: list[str]) -> list[dict[str, Any] | None]:
        return self.store.get(entity_ids)

    def close(self) -> None:
        self.store.close()


def get_online(target: Path, ids: list[str]) -> dict[str, Any]:
    store = FeatureStore(target)
    try:
        return dict(zip(ids, store.get_online(ids), strict=True))
    finally:
        store.close()


def offline_history(target: Path) -> list[OfflineVersion]:
    """The versions a Delta offline store holds, newest first (`mlwright features
    history`); a Parquet store holds one table and no history, which is said, not
    shown as an empty list."""
    from mlwright.runtime.context import UserError
    from mlwright.runtime.stores.delta_store import history

    ctx = load_context(target)
    cfg = ctx.params.featurize
    folder = ctx.path(cfg.offline_path)
    if cfg.offline_format != "delta":
        raise UserError(
            f"{folder}: a {cfg.offline_format} offline store keeps only its last table; "
            "versions are kept with features.store.offline.format: delta"
        )
    versions = history(folder)
    if not versions:
        raise UserError(f"{folder}: no Delta offline store yet; run featurize first")
    return versions
