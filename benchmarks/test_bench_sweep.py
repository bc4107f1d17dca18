"""Sweep throughput: the factorised numba kernel (prefill + decode + cost for every point, reductions
fused) against the factorised NumPy reference of the same model (numpy_reference.py), timed in the
same run on a sub-grid of the billion-point sweep; both give the same reductions (asserted).
.ci/run checks their ratio and the work per point (benchmarks/check_ratio.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from infersim.kernels import grid_sweep as K
from infersim.design_space.chunk import Reducer, Tables
from infersim.design_space.grid import build_grid

sys.path.insert(0, str(Path(__file__).parent))
from numpy_reference import Reference  # noqa: E402
from op_count import ops_per_point  # noqa: E402


@pytest.fixture(scope="module")
def spec(lib):
    """The billion-point sweep on two chips and a third of its input lengths: ~50 M points."""
    s = lib.sweep("billion-points")
    return s.model_copy(update={"chips": ["nvidia-h100-sxm", "google-tpu-v6e"], "input_len": s.input_len[::3]})


@pytest.fixture(scope="module")
def grid(lib, spec):
    return build_grid(lib, spec)


def _kernel(grid, spec, tables):
    red = Reducer(grid, spec, tables)
    red.run(0, grid.n_blocks)
    return red


def test_sweep_kernel_throughput(benchmark, grid, spec, machine):
    tables = Tables(grid)
    _kernel(grid, spec, tables)  # compile or load from cache outside the timing
    red = benchmark.pedantic(_kernel, args=(grid, spec, tables), rounds=3, iterations=1)
    counters = red.counters.sum(axis=0)
    benchmark.extra_info.update(machine)
    benchmark.extra_info["points"] = grid.n_points
    benchmark.extra_info["points_per_s"] = grid.n_points / benchmark.stats.stats.mean
    benchmark.extra_info["decode_steps_per_point"] = counters[K.N_DECODE_CALLS] / grid.n_points
    benchmark.extra_info["flops_per_point"] = ops_per_point(grid, counters)["flops_per_point"]
    # the same reductions as the NumPy reference, on every point
    ref = Reference(grid, spec)
    ref.run(0, grid.n_blocks)
    feasible, hist, top, front = ref.result()
    part = red.partial()
    assert part.feasible == feasible > grid.n_points // 8
    assert np.array_equal(part.hist, hist)
    assert np.array_equal(np.sort(part.top_rows), top)
    assert np.array_equal(np.sort(part.front_rows), front)


def test_numpy_reference_throughput(benchmark, grid, spec, machine):
    def run():
        ref = Reference(grid, spec)
        ref.run(0, grid.n_blocks)
        return ref.result()
    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(machine)
    benchmark.extra_info["threads"] = 1   # NumPy runs these array operations on one core
    benchmark.extra_info["points"] = grid.n_points
    benchmark.extra_info["points_per_s"] = grid.n_points / benchmark.stats.stats.mean


def test_old_reference_throughput(benchmark, grid):
    """The per-point NumPy version this benchmark used before (every quantity recomputed per point)."""
    from old_numpy_reference import sweep_numpy

    rows = np.arange(0, grid.n_points, 997)[:200_000]
    benchmark.pedantic(sweep_numpy, args=(grid, rows), rounds=1, iterations=1)
    benchmark.extra_info["threads"] = 1
    benchmark.extra_info["points"] = len(rows)
    benchmark.extra_info["points_per_s"] = len(rows) / benchmark.stats.stats.mean


def test_stages_equal_on_every_point(lib):
    """Every point of a 2.4 M-point grid: the kernel's per-point values against the reference's stages."""
    from infersim.design_space.chunk import point_values

    spec = lib.sweep("hbm-bandwidth-what-if")
    g = build_grid(lib, spec)
    ref = Reference(g, spec)
    ref.run(0, g.n_blocks, keep_stages=True)
    out = point_values(g, np.arange(g.n_points))
    n_m, n_t, n_p = g.archs.shape[0], g.tps.shape[0], g.pps.shape[0]
    dims = (g.chips.shape[0], n_m, g.budgets.shape[0], n_t, n_p, g.inputs.shape[0], g.outputs.shape[0],
            g.batches.shape[0])
    v, m, b, t, p, i, o, k = np.unravel_index(np.arange(g.n_points), dims)
    chip = v // (g.chips.shape[0] // g.chip_tvars.shape[0])      # chip variants are grouped by chip
    blk = ((chip * n_m + m) * n_t + t) * n_p + p
    tv = g.variant_tchip[v] - g.chip_tvars[chip, 0]
    slot = g.variant_mslot[v]
    fits = np.empty(g.n_points, dtype=bool)
    tpot = np.empty(g.n_points)
    usd = np.empty(g.n_points)
    for x in np.unique(blk):
        s = ref.stages[x]
        sel = blk == x
        fits[sel] = g.batches[k[sel]] <= s["maxb"][slot[sel], i[sel], o[sel]]
        tpot[sel] = s["tpot"][tv[sel], i[sel], o[sel], k[sel]]
        usd[sel] = ref.usd_h[v[sel], b[sel]] * s["factor"][tv[sel], i[sel], o[sel], k[sel]]
    assert np.array_equal(out[:, K.S_FITS] == 1.0, fits)
    assert np.array_equal(out[fits, K.S_TPOT_S], tpot[fits])
    assert np.array_equal(out[fits, K.S_USD_PER_MTOK], usd[fits])


def test_chip_hour_table_matches_the_vectorised_cost(grid):
    from old_numpy_reference import chip_hour

    usd_h = Tables(grid).usd_h
    n_v, n_b = usd_h.shape
    vec = chip_hour(np.repeat(grid.costs, n_b, axis=0), np.tile(grid.budgets, (n_v, 1))).reshape(n_v, n_b)
    assert np.allclose(vec, usd_h, rtol=1e-12, atol=0)
