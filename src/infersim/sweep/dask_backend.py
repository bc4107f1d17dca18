"""The sweep on a dask.distributed cluster (`--backend dask`): ranges of the grid become tasks
whose workers return the same reductions (Partial) the local backend folds; merging does not
depend on how the grid was split, so the results are identical to the local backend's.

Optional: pip install 'infersim[dask]'. Default cluster: a local one on this machine."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InfersimError
from ..specs.sweep_file import SweepSpec
from .chunk import Partial, Reducer
from .grid import Grid

TASKS_PER_WORKER = 4


def _task(g: Grid, spec: SweepSpec, ranges: list[tuple[int, int]]) -> Partial:
    red = Reducer(g, spec)
    for s, e in ranges:
        red.run(s, e)
    return red.partial()


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
            client = Client(scheduler)
        else:
            cluster = LocalCluster(**(cluster_options or {"n_workers": 2, "threads_per_worker": 1}))
            client = Client(cluster)
    except OSError as exc:
        raise InfersimError(f"cannot reach the dask scheduler {scheduler or '(local)'}: {exc}") from None
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
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
