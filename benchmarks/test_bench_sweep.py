"""Sweep throughput: the numba kernel (prefill + decode + cost per point) and the straightforward
NumPy version of the same model, timed in the same run. .ci/run checks their ratio."""

import sys
from pathlib import Path

import numpy as np
import pytest

from infersim.kernels import grid_sweep as K
from infersim.sweep.grid import build_grid

sys.path.insert(0, str(Path(__file__).parent))
from numpy_reference import sweep_numpy  # noqa: E402


@pytest.fixture(scope="module")
def grid(lib):
    spec = lib.sweep("hbm-bandwidth-what-if").model_copy(update={
        "input_len": list(range(256, 8193, 256)), "output_len": [128, 512, 2048]})
    return build_grid(lib, spec)   # ~2.7 M points


def _kernel(g, out):
    K.sweep_nb(g.archs, g.chips, g.costs, g.budgets, g.tps, g.pps, g.inputs, g.outputs, g.batches, g.w_bytes,
               g.kv_bytes, 2.0, 8192.0, 0, g.n_outer, out)


def test_sweep_kernel_throughput(benchmark, grid):
    out = np.empty((grid.n_points, K.S_FIELDS))
    _kernel(grid, out)  # compile or load from cache outside the timing
    benchmark.pedantic(_kernel, args=(grid, out), rounds=5, iterations=1)
    benchmark.extra_info["configs"] = grid.n_points
    benchmark.extra_info["configs_per_s"] = grid.n_points / benchmark.stats.stats.mean
    assert (out[:, K.S_FITS] == 1.0).sum() > grid.n_points // 4


def test_numpy_reference_throughput(benchmark, grid):
    rows = np.arange(0, grid.n_points, 7)[:300_000]   # a spread-out subset: same work per point
    usd = benchmark.pedantic(sweep_numpy, args=(grid, rows), rounds=3, iterations=1)
    benchmark.extra_info["configs"] = len(rows)
    benchmark.extra_info["configs_per_s"] = len(rows) / benchmark.stats.stats.mean
    out = np.empty((grid.n_points, K.S_FIELDS))
    _kernel(grid, out)
    ref = np.where(out[rows, K.S_FITS] == 1.0, out[rows, K.S_USD_PER_MTOK], np.nan)
    assert np.array_equal(np.isnan(usd), np.isnan(ref)) and np.nanmax(np.abs(usd / ref - 1)) < 1e-9
