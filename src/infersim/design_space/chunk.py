"""Blocks of the grid through the factorised sweep kernel, with the reductions (count of kept points,
histogram of $/M tokens, best k per chip variant, Pareto front) folded in per thread. Reductions of
any split of the grid merge to the same result."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InfersimError
from ..kernels import grid_sweep as K
from ..kernels.config import DYNAMIC_CHUNK
from ..kernels.reduce import pareto_scan_nb, topk_by_group_nb
from ..specs.sweep_file import SweepSpec
from .grid import Grid, chip_variant_of

HIST_EDGES = np.linspace(-3.0, 3.0, 61)  # log10 $/M tokens from $0.001 to $1,000
HIST_USD_EDGES = 10.0 ** HIST_EDGES      # a point is in bin j when edge j <= $/M tokens < edge j+1 (ends open)
PARETO_CANDIDATES = 1 << 16              # per thread; dominated ones dropped when full


@dataclass
class Partial:
    """Reductions of a part of the sweep; merge() combines parts in any grouping."""

    hist: np.ndarray
    feasible: int
    top_rows: np.ndarray       # global row indices
    top_values: np.ndarray     # rows x S_FIELDS
    front_rows: np.ndarray
    front_values: np.ndarray
    counters: np.ndarray       # K.N_* summed over threads: the work done


class Tables:
    """What the kernel reads that does not change from block to block: $/chip-hour per chip variant and
    budget (and its log10), the distinct average decode contexts."""

    def __init__(self, g: Grid):
        self.usd_h = np.empty((g.costs.shape[0], g.budgets.shape[0]))
        K.chip_hour_table_nb(g.costs, g.budgets, self.usd_h)
        self.log_usd_h = np.log10(self.usd_h)
        self.ctx_of, self.n_ctx = K.context_index_nb(g.inputs, g.outputs)


class Reducer:
    """Per-thread reduction state of the streaming kernel; run() folds blocks in, partial() reads it out."""

    def __init__(self, g: Grid, spec: SweepSpec, tables: Tables | None = None,
                 pareto_capacity: int = PARETO_CANDIDATES):
        self.g, self.spec = g, spec
        self.t = tables or Tables(g)
        nt = numba.get_num_threads()
        r = spec.reduce
        self.top_k = int(r.top_k)
        self.max_ttft = (r.max_ttft_ms or 0.0) / 1e3
        self.max_tpot = (r.max_tpot_ms or 0.0) / 1e3
        n_v = g.costs.shape[0]
        self.hist = np.zeros((nt, len(HIST_EDGES) - 1), dtype=np.int64)
        self.counters = np.zeros((nt, K.N_COUNTERS), dtype=np.int64)
        self.top_val = np.full((nt, n_v, max(self.top_k, 1)), np.inf)
        self.top_row = np.full((nt, n_v, max(self.top_k, 1)), np.iinfo(np.int64).max, dtype=np.int64)
        self.bin_min = np.full((nt, K.PARETO_BINS), np.inf)
        self.bin_speed = np.zeros((nt, K.PARETO_BINS))
        self.bin_row = np.full((nt, K.PARETO_BINS), -1, dtype=np.int64)
        self.faster_min = np.full((nt, K.PARETO_BINS), np.inf)
        cap = pareto_capacity if r.pareto else 1
        self.cand_speed = np.empty((nt, cap))
        self.cand_cost = np.empty((nt, cap))
        self.cand_row = np.empty((nt, cap), dtype=np.int64)
        self.cand_n = np.zeros((nt, 1), dtype=np.int64)

    def run(self, blk_lo: int, blk_hi: int) -> None:
        g, t = self.g, self.t
        with numba.parallel_chunksize(DYNAMIC_CHUNK):
            K.sweep_blocks_nb(blk_lo, blk_hi, g.archs, g.tchips, g.mchips, t.usd_h, t.log_usd_h, g.chip_tvars,
                              g.chip_mvars, g.tvar_variants, g.variant_mslot, g.tps, g.pps, g.inputs, g.outputs,
                              g.batches, t.ctx_of, t.n_ctx, g.cfg, self.max_ttft, self.max_tpot, HIST_EDGES[0],
                              (len(HIST_EDGES) - 1) / (HIST_EDGES[-1] - HIST_EDGES[0]), HIST_USD_EDGES, self.top_k,
                              bool(self.spec.reduce.histogram_bins), bool(self.spec.reduce.pareto), self.hist,
                              self.counters, self.top_val, self.top_row, self.bin_min, self.bin_speed, self.bin_row,
                              self.faster_min, self.cand_speed,
                              self.cand_cost, self.cand_row, self.cand_n)
        if self.counters[:, K.N_OVERFLOW].any():
            raise InfersimError(f"sweep '{self.spec.id}': the Pareto front has more than {self.cand_speed.shape[1]:,} points "
                                "per thread; set [reduce] pareto = false or narrow the axes")

    def partial(self) -> Partial:
        g = self.g
        top = np.empty(0, dtype=np.int64)
        if self.top_k:
            ok = np.isfinite(self.top_val)
            rows, vals = self.top_row[ok], self.top_val[ok]
            order = np.lexsort((rows, vals))
            top = rows[topk_by_group_nb(order, chip_variant_of(g, rows), self.top_k, g.chips.shape[0])]
        front = np.empty(0, dtype=np.int64)
        if self.spec.reduce.pareto:
            n = self.cand_n[:, 0]
            speed = np.concatenate([self.cand_speed[i, :n[i]] for i in range(len(n))])
            cost = np.concatenate([self.cand_cost[i, :n[i]] for i in range(len(n))])
            rows = np.concatenate([self.cand_row[i, :n[i]] for i in range(len(n))])
            front = rows[pareto(speed, cost, rows)]
        return Partial(self.hist.sum(axis=0), int(self.counters[:, K.N_KEPT].sum()), top, point_values(g, top, self.t),
                       front, point_values(g, front, self.t), self.counters.sum(axis=0))


def point_values(g: Grid, rows: np.ndarray, tables: Tables | None = None) -> np.ndarray:
    """S_* fields of flat grid rows, each evaluated in full (the same stages as the streaming kernel)."""
    t = tables or Tables(g)
    out = np.empty((len(rows), K.S_FIELDS))
    K.point_values_nb(g.archs, g.tchips, g.mchips, t.usd_h, g.variant_tchip, g.variant_mchip, g.tps, g.pps, g.inputs,
                      g.outputs, g.batches, g.cfg, np.asarray(rows, dtype=np.int64), out)
    return out


def pareto(speed: np.ndarray, cost: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the Pareto front (speed up, cost down); ties to the lower global row."""
    return pareto_scan_nb(np.lexsort((rows, cost, -speed)), cost)


def merge(g: Grid, spec: SweepSpec, parts: list[Partial]) -> Partial:
    hist = np.sum([p.hist for p in parts], axis=0)
    feasible = sum(p.feasible for p in parts)
    counters = np.sum([p.counters for p in parts], axis=0)
    rows = np.concatenate([p.top_rows for p in parts])
    vals = np.concatenate([p.top_values for p in parts]) if parts else np.empty((0, K.S_FIELDS))
    if len(rows):
        order = np.lexsort((rows, vals[:, K.S_USD_PER_MTOK]))
        keep = topk_by_group_nb(order, chip_variant_of(g, rows), spec.reduce.top_k, g.chips.shape[0])
        rows, vals = rows[keep], vals[keep]
    frows = np.concatenate([p.front_rows for p in parts])
    fvals = np.concatenate([p.front_values for p in parts]) if parts else np.empty((0, K.S_FIELDS))
    if len(frows):
        # ties between parts are broken by the global row index, so any split gives the same front
        keep = pareto(fvals[:, K.S_USER_TOK_S], fvals[:, K.S_USD_PER_MTOK], frows)
        frows, fvals = frows[keep], fvals[keep]
    return Partial(hist, feasible, rows, vals, frows, fvals, counters)


def evaluate_range(g: Grid, spec: SweepSpec, start: int, stop: int, tables: Tables | None = None) -> Partial:
    """Blocks [start, stop) of (chip, model, tp, pp): kernel and reductions."""
    red = Reducer(g, spec, tables)
    red.run(start, stop)
    return red.partial()
