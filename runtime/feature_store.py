"""`FeatureStore`: online feature retrieval by entity id, from a compiled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .context import load_context
from .online_store import OnlineStore, open_store


class FeatureStore:
    """The online store configured in a compiled folder (`features.store.online`)."""

    def __init__(self, target: Path):
        ctx = load_context(target)
        self.store: OnlineStore = open_store(
            ctx.section("featurize")["online"],
            ctx.root,
            ctx.section("featurize")["name"],
            readonly=ctx.section("featurize")["online"]["backend"] == "sqlite",
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
