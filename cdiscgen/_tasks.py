"""Work of one run done partition by partition: in this process one after the other, or as tasks of a
Dask cluster (an embedded LocalCluster, or an existing one) that runs them side by side (issue 16)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def run_in_order(function: Callable[..., Any], calls: list[tuple], client: Any = None) -> Iterator[Any]:
    """Each call's result, in order: in this process one after the other, or (`client`) as tasks of a Dask
    cluster that runs them side by side. A failing call raises its error here; the calls not yet done
    are then cancelled."""
    if client is None:
        for arguments in calls:
            yield function(*arguments)
        return
    futures = [client.submit(function, *arguments, pure=False) for arguments in calls]
    try:
        for future in futures:
            yield future.result()
            future.release()
    finally:
        client.cancel([f for f in futures if not f.done()])


@contextmanager
def partition_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """The Dask client the partitions run on: none (this process) for one worker and no scheduler, an
    embedded LocalCluster of `workers` processes, or the cluster at `scheduler`."""
    if workers <= 1 and scheduler is None:
        yield None
        return
    from dask.distributed import Client

    from cdiscgen._batch import SchedulerUnreachable, start_local_cluster

    logging.getLogger("distributed").setLevel(max(logging.WARNING, logging.getLogger().level))
    cluster = start_local_cluster(workers) if scheduler is None else None
    try:
        try:
            client = Client(cluster if cluster is not None else scheduler)
        except OSError as exc:
            raise SchedulerUnreachable(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        with client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()
