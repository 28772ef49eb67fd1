"""Work of one run done partition by partition: in this process one after the other, or as tasks of a
Dask cluster (an embedded LocalCluster, or an existing one) that runs them side by side (issue 16)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def run_in_order(function: Callable[..., Any], calls: list[tuple], client: Any = None) -> Iterator[Any]:
    """Each call's result, in order: in this process one after the other, or (`client`) as tasks of a Dask
    cluster that runs them side by side. An argument every call shares (the study, what each partition
    needs besides its own records) is sent to the workers once. A failing call raises its error here;
    the calls not yet done are then cancelled."""
    if client is None:
        for arguments in calls:
            yield function(*arguments)
        return
    shared = _shared_positions(calls)
    sent = {i: client.scatter(calls[0][i], broadcast=True, hash=False) for i in shared}
    futures = [
        client.submit(function, *(sent.get(i, a) for i, a in enumerate(arguments)), pure=False)
        for arguments in calls
    ]
    try:
        for future in futures:
            yield future.result()
            future.release()
    finally:
        client.cancel([f for f in futures if not f.done()])
        client.cancel(list(sent.values()))


def _shared_positions(calls: list[tuple]) -> list[int]:
    """The positions where every call passes the same object (not a number, text or path: small)."""
    if len(calls) < 2:
        return []
    first = calls[0]
    return [
        i
        for i, value in enumerate(first)
        if not isinstance(value, int | float | str | Path | type(None))
        and all(len(c) == len(first) and c[i] is value for c in calls[1:])
    ]


@contextmanager
def partition_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """The Dask client the partitions run on: none (this process) for one worker and no scheduler, an
    embedded LocalCluster of `workers` processes, or the cluster at `scheduler`."""
    if workers <= 1 and scheduler is None:
        yield None
        return
    quiet_cluster_logs()
    cluster = start_local_cluster(workers) if scheduler is None else None
    try:
        with connect(cluster, scheduler) as client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def quiet_cluster_logs() -> None:
    """The cluster's own start/stop chatter is not the command's progress: dask's loggers at WARNING
    unless cdiscgen logs at DEBUG (-vv). After dask.distributed is imported: importing it sets them."""
    import dask.distributed  # noqa: F401

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("distributed").setLevel(logging.WARNING)


def connect(cluster: Any, scheduler: str | None) -> Any:
    """A Dask client of the embedded `cluster`, or of the existing cluster at `scheduler`."""
    from dask.distributed import Client

    try:
        return Client(cluster if cluster is not None else scheduler)
    except OSError as exc:
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None


# Settings of the embedded cluster's worker processes (an existing cluster keeps its own: README says
# which to set there). Measured on 2 runs of 1,000 subjects on 2 workers: 45 s per run with dask's
# defaults, 34 s with these, as a `cdiscgen run` alone.
EMBEDDED_CLUSTER_CONFIG = {
    # dask starts workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then hands every freed block over
    # 64 KiB back to the system and faults it in again (6x the page faults of a run); a run already gives
    # its memory back between stages (_pipeline._release_memory). None leaves glibc's own threshold.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # the worker's statistical profiler walks the running task's stack every 10 ms
    "distributed.worker.profile.enabled": False,
}


def start_local_cluster(workers: int) -> Any:
    """The embedded cluster: `workers` worker processes of one thread each, with the settings above."""
    import dask.config
    from dask.distributed import LocalCluster

    with dask.config.set(EMBEDDED_CLUSTER_CONFIG):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler given by address does not answer."""
