"""Work done partition by partition (cdiscgen/_tasks.py, issue 16): in this process or as tasks of an
embedded Dask cluster, results in call order, an argument all calls share sent to the workers once, a
failing call raising its own error."""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pytest

from cdiscgen._tasks import partition_client, run_in_order


def test_one_worker_and_no_scheduler_is_this_process():
    with partition_client(1, None) as client:
        assert client is None
        assert list(run_in_order(operator.add, [(1, 2), (3, 4)], client)) == [3, 7]


def test_on_a_cluster_results_come_in_call_order_and_shared_arguments_go_once():
    big = np.arange(3_000_000)  # 24 MB: in every task's graph, dask warns of a large graph
    calls = [(big, k) for k in (5, 0, 2_999_999, 7, 1, 3)]
    with warnings.catch_warnings(record=True) as caught, partition_client(2, None) as client:
        warnings.simplefilter("always")
        assert len(client.scheduler_info()["workers"]) == 2
        results = list(run_in_order(operator.getitem, calls, client))
    assert results == [k for _, k in calls]
    assert not [w for w in caught if "large graph" in str(w.message)]


def test_a_failing_call_raises_its_error():
    big = np.arange(1000)
    with partition_client(2, None) as client, pytest.raises(IndexError):
        list(run_in_order(operator.getitem, [(big, 0), (big, 5000), (big, 1)], client))


def test_the_cluster_s_own_log_chatter_is_quiet_unless_debugging():
    """dask sets its loggers to INFO when imported: a run at cdiscgen's default or -v level does not show
    the scheduler's and nannies' start/stop lines; -vv (DEBUG) does."""
    import logging

    dask_log, root = logging.getLogger("distributed"), logging.getLogger()
    before = (dask_log.level, root.level)
    try:
        for level, shown in ((logging.INFO, logging.WARNING), (logging.DEBUG, logging.INFO)):
            root.setLevel(level)
            dask_log.setLevel(logging.INFO)  # as importing dask.distributed leaves it
            with partition_client(2, None):
                assert dask_log.getEffectiveLevel() == shown
    finally:
        dask_log.setLevel(before[0])
        root.setLevel(before[1])
