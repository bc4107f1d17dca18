"""The sweep on a dask.distributed cluster (`--backend dask`): ranges of the grid become tasks
whose workers return the same reductions (Partial) the local backend folds; merging does not
depend on how the grid was split, so the results are identical to the local backend's.

Optional: pip install 'infersim[dask]'. Default cluster: a local one on this machine."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager

from ..errors import InfersimError
from ..specs.sweep_file import SweepSpec
from .chunk import Partial, Reducer
from .grid import Grid

TASKS_PER_WORKER = 4
CONNECT_TIMEOUT = "10s"  # an unreachable --scheduler is an error after this, not a wait
# the default local cluster; its routine warnings (a task cancelled by Ctrl-C, a worker killed on close) are
# not the user's business: only errors reach stderr
LOCAL_CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "silence_logs": logging.ERROR}


def _task(g: Grid, spec: SweepSpec, ranges: list[tuple[int, int]]) -> Partial:
    red = Reducer(g, spec)
    for s, e in ranges:
        red.run(s, e)
    return red.partial()


@contextmanager
def _children_ignore_ctrl_c():
    """Worker processes started inside this block ignore SIGINT (an ignored signal stays ignored in a child):
    Ctrl-C reaches every process of the terminal's group, and the workers are stopped by this process as it
    closes the cluster, not each by its own KeyboardInterrupt and traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_on_dask(g: Grid, spec: SweepSpec, ranges: list[tuple[int, int]], scheduler: str | None,
                progress: Callable[[int, int], None] | None = None,
                cluster_options: dict | None = None) -> list[Partial]:
    """Evaluate `ranges` of blocks as tasks; progress(points_done, points_total)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InfersimError("the dask backend needs dask.distributed: pip install 'infersim[dask]'") from None
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        else:
            with _children_ignore_ctrl_c():
                cluster = LocalCluster(**(cluster_options or LOCAL_CLUSTER))
            client = Client(cluster)
    except (OSError, ValueError, TypeError) as exc:  # unreachable, or not an address
        if cluster is not None:
            cluster.close()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InfersimError(f"cannot reach the dask scheduler {scheduler or '(local)'}: {reason}: check --scheduler "
                            "(e.g. tcp://host:8786)") from None
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        n_tasks = min(len(ranges), TASKS_PER_WORKER * n_workers)
        groups = [ranges[i::n_tasks] for i in range(n_tasks)]
        grid = client.scatter(g, broadcast=True)
        futures = [client.submit(_task, grid, spec, grp, pure=False) for grp in groups]
        per_block = g.n_points // g.n_blocks
        points = [sum(e - s for s, e in grp) * per_block for grp in groups]
        parts, done = [], 0
        for fut in as_completed(futures):
            parts.append(fut.result())
            done += points[futures.index(fut)]
            if progress:
                progress(done, g.n_points)
        return parts
    except BaseException:
        # Ctrl-C or a failure: the tasks cancelled and the workers stopped below are expected, not news
        logging.getLogger("distributed").setLevel(logging.ERROR)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
