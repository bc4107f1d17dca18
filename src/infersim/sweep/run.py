"""`infersim sweep`: a design-space sweep from a sweep file, streamed chunk by chunk.

Builds the grid, evaluates chunks with the numba sweep kernel (locally or on a Dask cluster) and
keeps only reductions: the best k points per chip variant, the Pareto front (tokens/s per user
against $/M tokens) and a histogram of $/M tokens. Memory is bounded by the chunk, whatever the
size of the sweep.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..kernels import grid_sweep as K
from ..specs.library import Library
from ..specs.sweep_file import SweepSpec
from .chunk import HIST_EDGES, evaluate_range, merge
from .grid import build_grid, records


@dataclass
class SweepResult:
    table: pd.DataFrame          # top-k per chip variant and the Pareto front, tidy
    histogram: pd.DataFrame      # counts of log10 $/M tokens
    n_points: int
    n_feasible: int
    seconds: float
    kernel_seconds: float
    peak_rss_bytes: int
    skipped: list[tuple[str, str]]


def run_sweep(lib: Library, spec: SweepSpec, chunk_points: int = 2_000_000, backend: str = "local",
              scheduler: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run the sweep; `progress(points_done, points_total)` is called after each chunk."""
    g = build_grid(lib, spec)
    t0 = time.perf_counter()
    n_outer, nb = g.n_outer, g.batches.shape[0]
    step = max(1, chunk_points // nb)
    ranges = [(s, min(s + step, n_outer)) for s in range(0, n_outer, step)]
    kernel_s = 0.0
    if backend == "local":
        parts, buf = [], np.empty((step * nb, K.S_FIELDS))
        for s, e in ranges:
            k0 = time.perf_counter()
            parts.append(evaluate_range(g, spec, s, e, buf))
            kernel_s += time.perf_counter() - k0
            if len(parts) > 64:  # keep memory bounded: fold the partial results as we go
                parts = [merge(g, spec, parts)]
            if progress:
                progress(e * nb, g.n_points)
    elif backend == "dask":
        from .dask_backend import run_on_dask

        parts = run_on_dask(g, spec, ranges, scheduler, progress)
    else:
        raise InfersimError(f"unknown backend '{backend}': local or dask")
    total = merge(g, spec, parts)
    seconds = time.perf_counter() - t0
    table = pd.concat([records(g, total.top_rows, total.top_values, "top_k"),
                       records(g, total.front_rows, total.front_values, "pareto")], ignore_index=True)
    hist = pd.DataFrame({"log10_usd_per_mtok_low": HIST_EDGES[:-1], "log10_usd_per_mtok_high": HIST_EDGES[1:],
                         "count": total.hist})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return SweepResult(table, hist, g.n_points, total.feasible, seconds, kernel_s or seconds, peak, g.skipped)
