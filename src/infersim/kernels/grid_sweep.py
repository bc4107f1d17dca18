"""The design-space sweep kernel: prefill + decode + cost for every point of a cartesian grid.

Axes (outer to inner): chip row, model row, budget row, tp, pp, input length, output length, batch.
Sweeps have no attention DP and no expert parallelism (experts split by tensor parallelism).
A point is found from its flat index by mixed-radix decoding; nothing is materialised. The batch
axis is innermost: memory accounting and the prefill pass of an outer configuration are computed
once and reused for all its batches. Parallel over chunks of outer configurations.
"""

import numpy as np
from numba import njit, prange

from .chip_cost import chip_hour_cost_nb
from .config import JIT, JIT_PARALLEL
from .layout import (
    C_OVERHEAD_S, C_PREFILL_OVERHEAD_S, CC_FIELDS, D_ACT_BYTES, D_ATTN_DP, D_EP, D_FIELDS, D_KV_BYTES, D_PP, D_TP,
    D_W_BYTES, N_OPS, OP_PP_SENDRECV,
)
from .step import dominant_bound_nb, memory_per_chip_nb, step_time_nb

S_FITS = 0
S_USD_PER_MTOK = 1
S_USER_TOK_S = 2
S_TOK_S_PER_CHIP = 3
S_TTFT_S = 4
S_TPOT_S = 5
S_DECODE_BOUND = 6
S_FIELDS = 7


@njit(**JIT)
def outer_count_nb(n_chip, n_model, n_budget, n_tp, n_pp, n_in, n_out):
    return n_chip * n_model * n_budget * n_tp * n_pp * n_in * n_out


@njit(**JIT)
def decode_outer_nb(i, n_model, n_budget, n_tp, n_pp, n_in, n_out):
    """Flat outer index -> (chip, model, budget, tp, pp, input, output) indices."""
    o = i % n_out
    i //= n_out
    inp = i % n_in
    i //= n_in
    pp = i % n_pp
    i //= n_pp
    tp = i % n_tp
    i //= n_tp
    b = i % n_budget
    i //= n_budget
    m = i % n_model
    c = i // n_model
    return c, m, b, tp, pp, inp, o


@njit(**JIT)
def sweep_outer_nb(archs, chips, chip_costs, budgets, tps, pps, inputs, outputs, batches, w_bytes, kv_bytes, act_bytes,
                   prefill_chunk, i, out, dep, flops, nbytes, count, times, bounds, bound_time, cost_scratch):
    """Evaluate outer configuration i for every batch; write rows 0 .. len(batches)-1 of out.

    The same model as step.evaluate_one_nb, written out here on purpose: factoring the two through
    shared phase functions cost ~18 % of sweep throughput (measured with interleaved benchmark runs,
    even with inline="always"). tests/test_sweep.py compares this kernel with the same plain-Python
    twin as evaluate_one_nb, so the two cannot drift apart unnoticed."""
    n_b = batches.shape[0]
    c, m, b, t, p, ii, oo = decode_outer_nb(i, archs.shape[0], budgets.shape[0], tps.shape[0], pps.shape[0],
                                            inputs.shape[0], outputs.shape[0])
    arch = archs[m]
    chip = chips[c]
    tp = tps[t]
    pp = pps[p]
    inp = inputs[ii]
    outp = outputs[oo]
    usd_h = chip_hour_cost_nb(chip_costs[c], budgets[b], cost_scratch)
    dep[D_TP] = tp
    dep[D_PP] = pp
    dep[D_ATTN_DP] = 1.0
    dep[D_EP] = 1.0
    dep[D_W_BYTES] = w_bytes
    dep[D_KV_BYTES] = kv_bytes
    dep[D_ACT_BYTES] = act_bytes
    usable, weights, fixed_act, per_seq = memory_per_chip_nb(arch, chip, dep, inp, outp, prefill_chunk)
    free = usable - weights - fixed_act
    max_batch = np.floor(free / per_seq) if free > 0.0 else 0.0
    if max_batch < 1.0:
        for k in range(n_b):
            out[k, S_FITS] = 0.0
            for f in range(1, S_FIELDS):
                out[k, f] = np.nan
        return
    t_pf = step_time_nb(arch, chip, dep, 1.0, inp, 0.0, False, flops, nbytes, count, times, bounds, bound_time)
    hops = count[OP_PP_SENDRECV] * times[OP_PP_SENDRECV]
    ttft = t_pf + chip[C_PREFILL_OVERHEAD_S]
    prefill_busy = (t_pf - hops) / pp + chip[C_PREFILL_OVERHEAD_S]
    past_avg = inp + (outp - 1.0) / 2.0
    for k in range(n_b):
        batch = batches[k]
        row = k
        if batch > max_batch:
            out[row, S_FITS] = 0.0
            for f in range(1, S_FIELDS):
                out[row, f] = np.nan
            continue
        micro = min(batch, pp)
        t_dec = step_time_nb(arch, chip, dep, batch / micro, 1.0, past_avg, True, flops, nbytes, count, times, bounds,
                             bound_time)
        tpot = t_dec + chip[C_OVERHEAD_S]
        tok_s = batch * outp / (max(outp - 1.0, 0.0) * tpot + batch * prefill_busy)
        n_chips = tp * pp
        out[row, S_FITS] = 1.0
        out[row, S_TTFT_S] = ttft
        out[row, S_TPOT_S] = tpot
        out[row, S_USER_TOK_S] = 1.0 / tpot
        out[row, S_TOK_S_PER_CHIP] = tok_s / n_chips
        out[row, S_USD_PER_MTOK] = n_chips * usd_h / (tok_s * 3600.0) * 1e6
        out[row, S_DECODE_BOUND] = dominant_bound_nb(bound_time)


@njit(**JIT_PARALLEL)
def sweep_nb(archs, chips, chip_costs, budgets, tps, pps, inputs, outputs, batches, w_bytes, kv_bytes, act_bytes,
             prefill_chunk, start, stop, out):
    """Outer configurations [start, stop) into out (row = (i - start) x len(batches) + batch index)."""
    n = stop - start
    n_chunks = min(n, 256)
    for ch in prange(n_chunks):
        flops = np.zeros(N_OPS)
        nbytes = np.zeros(N_OPS)
        count = np.zeros(N_OPS)
        times = np.zeros(N_OPS)
        bounds = np.zeros(N_OPS, dtype=np.int64)
        bound_time = np.zeros(3)
        cost_scratch = np.zeros(CC_FIELDS)
        dep = np.zeros(D_FIELDS)
        lo = start + ch * n // n_chunks
        hi = start + (ch + 1) * n // n_chunks
        for i in range(lo, hi):
            sweep_outer_nb(archs, chips, chip_costs, budgets, tps, pps, inputs, outputs, batches, w_bytes, kv_bytes,
                           act_bytes, prefill_chunk, i, out[(i - start) * batches.shape[0]:], dep, flops, nbytes,
                           count, times, bounds, bound_time, cost_scratch)
