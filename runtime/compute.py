"""Where a stage's independent pieces of work run: in this process, or on a Dask cluster.

A stage splits its heavy work into independent tasks (one entity bucket of
features.sql, one CV fold, one chunk of a batch) and hands them to an `Engine`
opened from the `compute` params section. The local engine runs them here, one after
another; the Dask engine sends them to a scheduler (`local`: a `LocalCluster`
started for the stage; otherwise the address, resolved from the environment when the
stage starts) and gathers the results in the order they were given. Either way the
stage combines the results itself, so both engines give the same bytes: the tests
hold that, and it is why the scheduler address is not a DVC parameter (pointing a
build at a cluster re-runs nothing).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mlwright.contract.compute import ComputeParams
from mlwright.runtime.context import StageContext, UserError, resolve_env, say

R = TypeVar("R")

IN_FLIGHT = 2  # tasks sent per worker before one finishes: a queued one each, no more
CONNECT_TIMEOUT_S = 20  # an unreachable scheduler is a one-line error within this time


@dataclass(frozen=True)
class Compute:
    """The `compute` params section, typed."""

    engine: str = "local"
    scheduler: str = "local"
    workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str | int = "auto"  # bytes per LocalCluster worker
    buckets: int = 1
    distributed_fit_rows: int = 5_000_000

    @classmethod
    def from_params(cls, section: ComputeParams) -> Compute:
        """The section with its scheduler address resolved (an ${oc.env:...} reference)."""
        return cls(
            engine=section.engine,
            scheduler=str(resolve_env(section.scheduler)),
            workers=section.workers,
            threads_per_worker=section.threads_per_worker,
            memory_limit=section.memory_limit,
            buckets=section.buckets,
            distributed_fit_rows=section.distributed_fit_rows,
        )


def compute_of(ctx: StageContext) -> Compute:
    """The build's `compute` section, resolved."""
    return Compute.from_params(ctx.params.compute)


class Engine(Protocol):
    """Runs `fn` over `items`; results in the order of `items`."""

    name: str
    threads: int  # threads one task may use (DuckDB, LightGBM)

    def share(self, value: Any) -> Any:
        """`value` sent to every worker once; pass the handle as a keyword of `map`."""
        ...

    def map(
        self, fn: Callable[..., R], items: Sequence[Any], what: str, progress: bool = True, **shared: Any
    ) -> list[R]: ...

    def completed(
        self, fn: Callable[..., R], items: Sequence[Any], what: str, progress: bool = True, **shared: Any
    ) -> Iterator[tuple[int, R]]:
        """(position, result) as each task finishes: what a checkpointing caller records."""
        ...

    def keep(self, fn: Callable[..., Any], items: Sequence[Any], what: str) -> list[Any]:
        """`fn` over `items`, each result left where it was computed (a worker's memory),
        as handles to pass as `map`'s items: several rounds over parts read once."""
        ...


class LocalEngine:
    """Every task in this process, one after another, each free to use every core."""

    name = "local"

    def __init__(self) -> None:
        self.threads = os.cpu_count() or 1

    def share(self, value: Any) -> Any:
        return value

    def map(
        self, fn: Callable[..., R], items: Sequence[Any], what: str, progress: bool = True, **shared: Any
    ) -> list[R]:
        return [fn(item, **shared) for item in items]

    def completed(
        self, fn: Callable[..., R], items: Sequence[Any], what: str, progress: bool = True, **shared: Any
    ) -> Iterator[tuple[int, R]]:
        for i, item in enumerate(items):
            yield i, fn(item, **shared)

    def keep(self, fn: Callable[..., Any], items: Sequence[Any], what: str) -> list[Any]:
        return [fn(item) for item in items]


class DaskEngine:
    """Tasks on a Dask cluster: each is a plain function of a picklable job."""

    name = "dask"

    def __init__(self, client: Any, threads: int, workers: int, stage: str) -> None:
        self.client = client
        self.threads = threads
        self.workers = workers
        self.stage = stage

    def share(self, value: Any) -> Any:
        # in a list: Dask scatters a dict value by value, under its own keys as task keys
        # (two shared dicts with a key in common would then overwrite each other)
        return self.client.scatter([value], broadcast=True, hash=False)[0]

    def map(
        self, fn: Callable[..., R], items: Sequence[Any], what: str, progress: bool = True, **shared: Any
    ) -> list[R]:
        results: list[Any] = [None] * len(items)
        for i, result in self.completed(fn, items, what, progress, **shared):
            results[i] = result
        return results

    def keep(self, fn: Callable[..., Any], items: Sequence[Any], what: str) -> list[Any]:
        from distributed import wait

        keys = [f"{self.stage}-{what}-{i}-{uuid.uuid4().hex[:8]}" for i in range(len(items))]
        futures = self.client.map(fn, list(items), pure=False, key=keys)
        wait(futures)
        failed = next((f for f in futures if f.status != "finished"), None)
        if failed is not None:
            try:
                failed.result()  # the task's error (UserError, or a crash) surfaces here
            finally:
                self.client.cancel(futures)  # after: cancelling first hides the error
        out: list[Any] = futures
        return out

    def completed(
        self, fn: Callable[..., R], items: Sequence[Any], what: str, progress: bool = True, **shared: Any
    ) -> Iterator[tuple[int, R]]:
        """Tasks in flight are bounded (IN_FLIGHT per worker), the next sent as one
        finishes: each task's input is serialised when it is sent, so a batch of many
        chunks never has every chunk's copy in memory at once."""
        from distributed import as_completed

        if not items:
            return
        tag = uuid.uuid4().hex[:8]
        waiting = iter(range(len(items)))
        position: dict[str, int] = {}
        live: set[Any] = set()

        def send(i: int) -> Any:
            future = self.client.submit(fn, items[i], pure=False, key=f"{self.stage}-{what}-{i}-{tag}", **shared)
            position[future.key] = i
            live.add(future)
            return future

        running = as_completed([send(i) for i in itertools.islice(waiting, IN_FLIGHT * self.workers)])  # type: ignore[no-untyped-call]
        done = 0
        try:
            for future in running:
                result = future.result()  # a task's UserError/GateFailed surfaces here
                live.discard(future)
                following = next(waiting, None)
                if following is not None:
                    running.add(send(following))
                done += 1
                if progress and len(items) > 1 and (done * 10 // len(items) > (done - 1) * 10 // len(items)):
                    say(f"{self.stage}: {what} {done}/{len(items)} done")  # about ten lines, whatever the count
                yield position[future.key], result
                future.release()
        except BaseException:
            # a task's error (or a worker that died: KilledWorker, reported as the crash it is)
            self.client.cancel(list(live))
            raise


def _client(compute: Compute) -> Any:
    client = _connect(compute)
    from mlwright.runtime.dask_plugins import SklearnBeforeLightGBM

    client.register_plugin(SklearnBeforeLightGBM())
    return client


def _connect(compute: Compute) -> Any:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("compute.engine is 'dask' but Dask is not installed: pip install 'mlwright[dask]'") from None
    if compute.scheduler == "local":
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=compute.workers,
            threads_per_worker=compute.threads_per_worker,
            memory_limit=compute.memory_limit,
            processes=True,
            dashboard_address=":0",
        )
        return Client(cluster)  # type: ignore[no-untyped-call]
    if "://" not in compute.scheduler:  # an environment reference resolved to something else
        raise UserError(f"compute.scheduler: {compute.scheduler!r} is not a scheduler address (e.g. tcp://host:8786)")
    try:
        return Client(compute.scheduler, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise UserError(
            f"compute.scheduler: cannot reach the Dask scheduler at {compute.scheduler} "
            f"within {CONNECT_TIMEOUT_S} s ({type(exc).__name__})"
        ) from None


@contextlib.contextmanager
def open_engine(compute: Compute, stage: str) -> Iterator[Engine]:
    """The engine for one stage run; a LocalCluster it started is stopped on the way out."""
    if compute.engine == "local":
        yield LocalEngine()
        return
    client = _client(compute)
    try:
        workers = client.scheduler_info().get("workers", {})
        threads = min((w.get("nthreads", 1) for w in workers.values()), default=compute.threads_per_worker)
        link = getattr(client, "dashboard_link", None)
        say(
            f"{stage}: Dask scheduler {client.scheduler.address}, {len(workers)} workers"
            + (f"; dashboard {link}" if link else "")
        )
        yield DaskEngine(client, max(1, int(threads)), max(1, len(workers)), stage)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
