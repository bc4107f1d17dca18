"""Sweep throughput: the factorised numba kernel (prefill + decode + cost per point, reductions fused)
and a NumPy version of the same model, timed in the same run. .ci/run checks their ratio."""

import sys
from pathlib import Path

import numpy as np
import pytest

from infersim.kernels import grid_sweep as K
from infersim.sweep.chunk import Reducer, Tables, point_values
from infersim.sweep.grid import build_grid

sys.path.insert(0, str(Path(__file__).parent))
from numpy_reference import sweep_numpy  # noqa: E402


@pytest.fixture(scope="module")
def spec(lib):
    return lib.sweep("hbm-bandwidth-what-if").model_copy(update={
        "input_len": list(range(256, 8193, 256)), "output_len": [128, 512, 2048]})


@pytest.fixture(scope="module")
def grid(lib, spec):
    return build_grid(lib, spec)   # ~2.4 M points


def test_sweep_kernel_throughput(benchmark, grid, spec):
    tables = Tables(grid)

    def run():
        red = Reducer(grid, spec, tables)
        red.run(0, grid.n_blocks)
        return red
    run()  # compile or load from cache outside the timing
    red = benchmark.pedantic(run, rounds=5, iterations=1)
    benchmark.extra_info["configs"] = grid.n_points
    benchmark.extra_info["configs_per_s"] = grid.n_points / benchmark.stats.stats.mean
    assert red.counters[:, K.N_KEPT].sum() > grid.n_points // 8


def test_numpy_reference_throughput(benchmark, grid):
    rows = np.arange(0, grid.n_points, 7)[:300_000]   # a spread-out subset: same work per point
    usd = benchmark.pedantic(sweep_numpy, args=(grid, rows), rounds=3, iterations=1)
    benchmark.extra_info["configs"] = len(rows)
    benchmark.extra_info["configs_per_s"] = len(rows) / benchmark.stats.stats.mean
    out = point_values(grid, rows)
    ref = np.where(out[:, K.S_FITS] == 1.0, out[:, K.S_USD_PER_MTOK], np.nan)
    assert np.array_equal(np.isnan(usd), np.isnan(ref)) and np.nanmax(np.abs(usd / ref - 1)) < 1e-9
