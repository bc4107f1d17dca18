"""`infersim sweep`: a design-space sweep from a sweep file, streamed chunk by chunk.

Builds the grid, evaluates it block by block with the factorised sweep kernel (locally or on a Dask
cluster) and keeps only reductions: the best k points per chip variant, the Pareto front (tokens/s
per user against $/M tokens) and a histogram of $/M tokens. Nothing per point is stored: memory is
bounded by the axes, whatever the number of points.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..specs.library import Library
from ..specs.sweep_file import SweepSpec
from .chunk import HIST_EDGES, Reducer, Tables, merge
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
    counters: np.ndarray          # grid_sweep.N_*: work done (decode steps evaluated, points kept, ...)


MAX_CHUNKS = 1_000_000  # the chunk list is held in memory (and, on Dask, sent to the workers)


def sweep_points(lib: Library, spec: SweepSpec) -> int:
    """Points of the full grid (an upper bound: chips that cannot run the dtypes are dropped later),
    counted in Python integers so that no axis product overflows."""
    n = len(spec.chips or lib.ids("chip")) * len(spec.models) * len(spec.tp) * len(spec.pp) * len(spec.batch)
    n *= len(spec.input_len) * len(spec.output_len)
    for axis in (*spec.scale.model_dump().values(), *spec.budget_scale.model_dump().values()):
        n *= len(axis)
    return n


def check_sweep_size(lib: Library, spec: SweepSpec, chunk_points: int) -> int:
    """The number of points; a grid that cannot be streamed in MAX_CHUNKS chunks is refused, saying why."""
    n = sweep_points(lib, spec)
    chunks = -(-n // max(chunk_points, 1))
    if n >= 2**62 or chunks > MAX_CHUNKS:
        raise InfersimError(
            f"sweep '{spec.id}' has {n:,} points: in chunks of {chunk_points:,} that is {chunks:,} chunks, more than "
            f"the {MAX_CHUNKS:,} a sweep streams through: shorten its axes (the point count is the product of their "
            "lengths) or raise --chunk")
    return n


def run_sweep(lib: Library, spec: SweepSpec, chunk_points: int = 2_000_000, backend: str = "local",
              scheduler: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run the sweep; `progress(points_done, points_total)` is called after each chunk of blocks.
    chunk_points: points per chunk (the progress step; memory does not depend on it)."""
    check_sweep_size(lib, spec, chunk_points)
    g = build_grid(lib, spec)
    t0 = time.perf_counter()
    per_block = g.n_points // g.n_blocks
    step = max(1, chunk_points // per_block)
    ranges = [(s, min(s + step, g.n_blocks)) for s in range(0, g.n_blocks, step)]
    kernel_s = 0.0
    if backend == "local":
        reducer = Reducer(g, spec, Tables(g))
        for s, e in ranges:
            k0 = time.perf_counter()
            reducer.run(s, e)
            kernel_s += time.perf_counter() - k0
            if progress:
                progress(e * per_block, g.n_points)
        parts = [reducer.partial()]
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
    return SweepResult(table, hist, g.n_points, total.feasible, seconds, kernel_s or seconds, peak, g.skipped,
                       total.counters)
