"""Where the heavy stages run. No stage declares it to DVC: the outputs are the same
bytes on any engine, scheduler and bucket count (tests hold that)."""

from __future__ import annotations

from typing import Literal

from .base import Section


class ComputeParams(Section):
    engine: Literal["local", "dask"]
    scheduler: str  # "local", an address, or an ${oc.env:...} reference resolved when a stage starts
    workers: int
    threads_per_worker: int
    memory_limit: int | Literal["auto"]  # bytes per LocalCluster worker
    partition_by: Literal["entity"]
    buckets: int
    distributed_fit_rows: int
