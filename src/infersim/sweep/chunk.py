"""One chunk of the grid: the numba sweep kernel, then linear-time reductions (histogram, best k
per chip variant, Pareto front). Reductions of any split of the grid merge to the same result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dtypes
from ..kernels import grid_sweep as K
from ..kernels.reduce import (
    histogram_nb, keep_mask_nb, pareto_candidates_nb, pareto_scan_nb, topk_by_group_nb, topk_update_nb,
)
from ..model.configuration import DEFAULT_PREFILL_CHUNK_TOKENS
from ..specs.sweep_file import SweepSpec
from .grid import Grid, chip_variant_of

HIST_EDGES = np.linspace(-3.0, 3.0, 61)  # log10 $/M tokens from $0.001 to $1,000


@dataclass
class Partial:
    """Reductions of a part of the sweep; merge() combines parts in any grouping."""

    hist: np.ndarray
    feasible: int
    top_rows: np.ndarray       # global row indices
    top_values: np.ndarray     # rows x S_FIELDS
    front_rows: np.ndarray
    front_values: np.ndarray


PARETO_BINS = 4096


def reduce_chunk(g: Grid, out: np.ndarray, first_row: int, spec: SweepSpec) -> Partial:
    """Linear-time reductions of one chunk (rows first_row ...): histogram, best k per chip
    variant (keyed by $/M tokens, then row), Pareto candidates then the exact front."""
    r = spec.reduce
    keep = keep_mask_nb(out, K.S_FITS, K.S_TTFT_S, K.S_TPOT_S, (r.max_ttft_ms or 0.0) / 1e3, (r.max_tpot_ms or 0.0) / 1e3)
    usd = out[:, K.S_USD_PER_MTOK]
    hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64)
    if r.histogram_bins:
        histogram_nb(usd, keep, HIST_EDGES[0], HIST_EDGES[-1], hist)
    top = np.empty(0, dtype=np.int64)
    if r.top_k:
        n_groups = g.chips.shape[0]
        best_val = np.full((n_groups, r.top_k), np.inf)
        best_row = np.full((n_groups, r.top_k), np.iinfo(np.int64).max)
        groups = chip_variant_of(g, np.arange(first_row, first_row + out.shape[0]))
        topk_update_nb(usd, keep, groups, first_row, best_val, best_row)
        top = best_row[np.isfinite(best_val)] - first_row
    front = np.empty(0, dtype=np.int64)
    if r.pareto:
        cand = pareto_candidates_nb(out[:, K.S_USER_TOK_S], usd, keep, PARETO_BINS)
        if len(cand):
            front = cand[pareto(out[cand, K.S_USER_TOK_S], usd[cand], cand + first_row)]
    return Partial(hist, int(keep.sum()), top + first_row, out[top].copy(), front + first_row, out[front].copy())


def pareto(speed: np.ndarray, cost: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the Pareto front (speed up, cost down); ties to the lower global row."""
    return pareto_scan_nb(np.lexsort((rows, cost, -speed)), cost)


def merge(g: Grid, spec: SweepSpec, parts: list[Partial]) -> Partial:
    hist = np.sum([p.hist for p in parts], axis=0)
    feasible = sum(p.feasible for p in parts)
    rows = np.concatenate([p.top_rows for p in parts])
    vals = np.concatenate([p.top_values for p in parts]) if parts else np.empty((0, K.S_FIELDS))
    if len(rows):
        order = np.lexsort((rows, vals[:, K.S_USD_PER_MTOK]))
        keep = topk_by_group_nb(order, chip_variant_of(g, rows), spec.reduce.top_k, g.chips.shape[0])
        rows, vals = rows[keep], vals[keep]
    frows = np.concatenate([p.front_rows for p in parts])
    fvals = np.concatenate([p.front_values for p in parts]) if parts else np.empty((0, K.S_FIELDS))
    if len(frows):
        # ties between parts are broken by the global row index, so any chunking gives the same front
        keep = pareto(fvals[:, K.S_USER_TOK_S], fvals[:, K.S_USD_PER_MTOK], frows)
        frows, fvals = frows[keep], fvals[keep]
    return Partial(hist, feasible, rows, vals, frows, fvals)


def evaluate_range(g: Grid, spec: SweepSpec, start: int, stop: int, out: np.ndarray | None = None) -> Partial:
    """Outer configurations [start, stop): kernel, then reductions."""
    n_rows = (stop - start) * g.batches.shape[0]
    if out is None or out.shape[0] < n_rows:
        out = np.empty((n_rows, K.S_FIELDS))
    view = out[:n_rows]
    K.sweep_nb(g.archs, g.chips, g.costs, g.budgets, g.tps, g.pps, g.inputs, g.outputs, g.batches, g.w_bytes,
               g.kv_bytes, dtypes.ACTIVATION_BYTES, float(DEFAULT_PREFILL_CHUNK_TOKENS), start, stop, view)
    return reduce_chunk(g, view, start * g.batches.shape[0], spec)
