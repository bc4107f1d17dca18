"""The design-space sweep, factorised: each quantity is computed once on the axes it depends on,
then combined per point in a streaming kernel with the reductions fused in.

Grid axes (flat row order, outer to inner): chip variant, model, budget, tp, pp, input length,
output length, batch. A chip variant is a chip with multipliers; it splits into
- a timing variant (FLOP/s and bandwidth multipliers): what step times depend on,
- a memory variant (capacity multiplier): what the batch that fits depends on,
- the variant itself with its power and price multipliers: what $/chip-hour depends on.

Stages, each calling the same kernels as one configuration (step.capacity_nb, prefill_phase_nb,
decode_phase_nb, replica_cycle_s_nb, chip_cost.chip_hour_cost_nb):
- $/chip-hour on chip variant x budget (chip_hour_table_nb, once per sweep);
- the largest batch on memory variant x model x mapping x lengths;
- prefill on timing variant x model x mapping x input length;
- the decode step on timing variant x model x mapping x batch x average context (lengths with the
  same average context share it);
- per point, one multiply: $/M tokens = $/chip-hour x (chips x 10^6 / (3600 x tokens/s)).
The work is split into blocks of (chip, model, tp, pp); sweep_blocks_nb runs blocks in parallel
and folds every point into per-thread reductions: count of kept points, histogram of $/M tokens,
the best k per chip variant, and Pareto candidates (tokens/s per user against $/M tokens).
Nothing per point is stored. point_values_nb evaluates chosen rows (the kept ones) in full.

Expert parallelism is 1 (experts split by tensor parallelism) in sweeps.
"""

import numpy as np
from numba import get_thread_id, njit, prange

from .chip_cost import chip_hour_cost_nb
from .config import JIT, JIT_LEAF, JIT_PARALLEL
from .layout import CC_FIELDS, K_BATCH, K_INPUT_LEN, K_OUTPUT_LEN, K_PP, K_TP, N_OPS
from .replica import replica_cycle_s_nb
from .step import capacity_nb, decode_context_nb, decode_phase_nb, new_scratch_nb, prefill_phase_nb

S_FITS = 0
S_USD_PER_MTOK = 1
S_USER_TOK_S = 2
S_TOK_S_PER_CHIP = 3
S_TTFT_S = 4
S_TPOT_S = 5
S_DECODE_BOUND = 6
S_FIELDS = 7

SECONDS_PER_HOUR = 3600.0
PARETO_SPEED_SHIFT = 45       # Pareto pruning bins: the float64 bits of tokens/s per user >> 45 (128 bins/octave)
PARETO_BINS = 8192
# counters returned by sweep_blocks_nb (per thread)
N_KEPT = 0                    # points that fit and meet the targets
N_DECODE_CALLS = 1            # decode steps evaluated (step_time_nb calls)
N_PREFILL_CALLS = 2
N_CAPACITY_CALLS = 3
N_TIMING_POINTS = 4           # (timing variant, model, mapping, lengths, batch) points that met the targets
N_OVERFLOW = 5                # Pareto buffer overflows (the caller raises)
N_COUNTERS = 6


@njit(**JIT)
def usd_per_mtok_per_chip_hour_nb(n_chips, tokens_per_s):
    """$/M tokens per $ of chip-hour: chips x 10^6 / (3600 x tokens/s)."""
    return n_chips * 1e6 / (SECONDS_PER_HOUR * tokens_per_s)


@njit(**JIT)
def chip_hour_table_nb(costs, budgets, out):
    """out[v, b] = $/hour of chip variant v (P_* row) under budget variant b (B_* row)."""
    scratch = np.empty(CC_FIELDS)
    for v in range(costs.shape[0]):
        for b in range(budgets.shape[0]):
            out[v, b] = chip_hour_cost_nb(costs[v], budgets[b], scratch)


@njit(**JIT)
def context_index_nb(inputs, outputs):
    """(index [input, output] into the distinct average decode contexts, their count)."""
    ctx = np.empty((inputs.shape[0], outputs.shape[0]))
    for i in range(inputs.shape[0]):
        for o in range(outputs.shape[0]):
            ctx[i, o] = decode_context_nb(inputs[i], outputs[o])
    distinct = np.unique(ctx.ravel())
    index = np.empty((inputs.shape[0], outputs.shape[0]), dtype=np.int64)
    for i in range(inputs.shape[0]):
        for o in range(outputs.shape[0]):
            index[i, o] = np.searchsorted(distinct, ctx[i, o])
    return index, distinct.shape[0]


@njit(**JIT)
def point_values_nb(archs, tchips, mchips, usd_h, variant_tchip, variant_mchip, tps, pps, inputs, outputs, batches,
                    cfg_template, rows, out):
    """Every S_* field of the flat grid rows `rows` (the same stages as the streaming kernel, one row at
    a time): for the points a sweep keeps, and for tests."""
    cfg = cfg_template.copy()
    flops, nbytes, count, times, bounds, bound_time = new_scratch_nb()
    n_model, n_budget, n_tp, n_pp = archs.shape[0], usd_h.shape[1], tps.shape[0], pps.shape[0]
    n_in, n_out, n_b = inputs.shape[0], outputs.shape[0], batches.shape[0]
    for r in range(rows.shape[0]):
        i = rows[r]
        k = i % n_b
        i //= n_b
        o = i % n_out
        i //= n_out
        ii = i % n_in
        i //= n_in
        p = i % n_pp
        i //= n_pp
        t = i % n_tp
        i //= n_tp
        b = i % n_budget
        i //= n_budget
        m = i % n_model
        v = i // n_model
        arch = archs[m]
        cfg[K_TP] = tps[t]
        cfg[K_PP] = pps[p]
        cfg[K_INPUT_LEN] = inputs[ii]
        cfg[K_OUTPUT_LEN] = outputs[o]
        batch = batches[k]
        cfg[K_BATCH] = batch
        max_batch = capacity_nb(arch, mchips[variant_mchip[v]], cfg)[0]
        for f in range(S_FIELDS):
            out[r, f] = np.nan
        if batch > max_batch:
            out[r, S_FITS] = 0.0
            continue
        chip = tchips[variant_tchip[v]]
        ttft, busy, _ = prefill_phase_nb(arch, chip, cfg, flops, nbytes, count, times, bounds, bound_time)
        tpot, bound = decode_phase_nb(arch, chip, cfg, batch, flops, nbytes, count, times, bounds, bound_time)
        n_chips = tps[t] * pps[p]
        tok_s = batch * outputs[o] / replica_cycle_s_nb(batch, outputs[o], tpot, busy)
        out[r, S_FITS] = 1.0
        out[r, S_TTFT_S] = ttft
        out[r, S_TPOT_S] = tpot
        out[r, S_USER_TOK_S] = 1.0 / tpot
        out[r, S_TOK_S_PER_CHIP] = tok_s / n_chips
        out[r, S_USD_PER_MTOK] = usd_h[v, b] * usd_per_mtok_per_chip_hour_nb(n_chips, tok_s)
        out[r, S_DECODE_BOUND] = bound


@njit(**JIT_LEAF)
def _pareto_prune_nb(cand_speed, cand_cost, cand_row, n, faster_min, bin_min, bin_speed, bin_row, bits):
    """Drop, in place, the first n candidates that a known point dominates: one in a strictly faster bin
    as cheap or cheaper, or the cheapest point of its own bin when that is as fast and as cheap (ties to
    the lower row). Returns how many are left. Allocates nothing."""
    m = 0
    for j in range(n):
        s = cand_speed[j]
        c = cand_cost[j]
        r = cand_row[j]
        b = _pareto_bin_nb(s, bits)
        if c >= faster_min[b]:
            continue
        qs = bin_speed[b]
        qc = bin_min[b]
        qr = bin_row[b]
        if qr != r and qs >= s and qc <= c and (qs > s or qc < c or qr < r):
            continue
        cand_speed[m] = s
        cand_cost[m] = c
        cand_row[m] = r
        m += 1
    return m


@njit(**JIT_LEAF)
def _pareto_bin_nb(speed, bits):
    bits[0] = speed
    key = (bits.view(np.int64)[0] >> PARETO_SPEED_SHIFT) - (np.int64(0x3E0) << (52 - PARETO_SPEED_SHIFT))
    return min(max(key, 0), PARETO_BINS - 1)


@njit(**JIT_LEAF)
def _block_nb(blk, archs, tchips, mchips, usd_h, log_usd_h, chip_tvars, chip_mvars, tvar_variants, variant_mslot,
              tps, pps, inputs, outputs, batches, ctx_of, cfg, max_ttft, max_tpot, hist_lo, hist_inv_width,
              hist_edges, top_k, do_hist, do_pareto, hist, counters, top_val, top_row, bin_min, bin_speed, bin_row, faster_min,
              cand_speed, cand_cost, cand_row, cand_n, maxb, ttft_s, busy_s, tpot_cache, bits, flops, nbytes, count, times,
              bounds, bound_time):
    """One block (chip, model, tp, pp): every timing variant, length, batch, memory and cost variant."""
    n_model, n_tp, n_pp = archs.shape[0], tps.shape[0], pps.shape[0]
    n_in, n_out, n_b, n_budget = inputs.shape[0], outputs.shape[0], batches.shape[0], usd_h.shape[1]
    p = blk % n_pp
    t = (blk // n_pp) % n_tp
    m = (blk // (n_pp * n_tp)) % n_model
    c = blk // (n_pp * n_tp * n_model)
    arch = archs[m]
    tp = tps[t]
    pp = pps[p]
    n_chips = tp * pp
    cfg[K_TP] = tp
    cfg[K_PP] = pp
    n_hist = hist.shape[0]
    cap = cand_speed.shape[0]
    # the largest batch per memory variant of this chip and per lengths
    n_mv = chip_mvars.shape[1]
    for j in range(n_mv):
        mchip = mchips[chip_mvars[c, j]]
        for ii in range(n_in):
            cfg[K_INPUT_LEN] = inputs[ii]
            for o in range(n_out):
                cfg[K_OUTPUT_LEN] = outputs[o]
                maxb[j, ii, o] = capacity_nb(arch, mchip, cfg)[0]
                counters[N_CAPACITY_CALLS] += 1
    n_tv = chip_tvars.shape[1]
    n_var = tvar_variants.shape[1]
    # flat row = ((((((v * n_model + m) * n_budget + b) * n_tp + t) * n_pp + p) * n_in + ii) * n_out + o) * n_b + k
    stride_b = n_tp * n_pp * n_in * n_out * n_b
    stride_v = n_model * n_budget * stride_b
    row_mtp = m * n_budget * stride_b + (t * n_pp + p) * n_in * n_out * n_b
    for jt in range(n_tv):
        tv = chip_tvars[c, jt]
        chip = tchips[tv]
        for ii in range(n_in):
            cfg[K_INPUT_LEN] = inputs[ii]
            ttft, busy, _ = prefill_phase_nb(arch, chip, cfg, flops, nbytes, count, times, bounds, bound_time)
            ttft_s[ii] = ttft
            busy_s[ii] = busy
            counters[N_PREFILL_CALLS] += 1
        for q in range(tpot_cache.shape[0]):
            tpot_cache[q] = np.nan
        for ii in range(n_in):
            if max_ttft > 0.0 and ttft_s[ii] > max_ttft:
                continue
            cfg[K_INPUT_LEN] = inputs[ii]
            busy = busy_s[ii]
            for o in range(n_out):
                outp = outputs[o]
                cfg[K_OUTPUT_LEN] = outp
                mb_any = 0.0
                for j in range(n_mv):
                    mb_any = max(mb_any, maxb[j, ii, o])
                ctx = ctx_of[ii, o]
                for k in range(n_b):
                    batch = batches[k]
                    if batch > mb_any:
                        continue
                    q = ctx * n_b + k
                    tpot = tpot_cache[q]
                    if tpot != tpot:
                        tpot = decode_phase_nb(arch, chip, cfg, batch, flops, nbytes, count, times, bounds,
                                               bound_time)[0]
                        tpot_cache[q] = tpot
                        counters[N_DECODE_CALLS] += 1
                    if max_tpot > 0.0 and tpot > max_tpot:
                        continue
                    counters[N_TIMING_POINTS] += 1
                    tok_s = batch * outp / replica_cycle_s_nb(batch, outp, tpot, busy)
                    factor = usd_per_mtok_per_chip_hour_nb(n_chips, tok_s)
                    log_factor = np.log10(factor)
                    best_usd = np.inf
                    best_row = np.int64(-1)
                    row_in = (ii * n_out + o) * n_b + k + row_mtp
                    for jv in range(n_var):
                        v = tvar_variants[tv, jv]
                        if batch > maxb[variant_mslot[v], ii, o]:
                            continue
                        counters[N_KEPT] += n_budget
                        for b in range(n_budget):
                            usd = usd_h[v, b] * factor
                            if do_hist:
                                # log10 $/M tokens: the bin from the logs, then made exact against the edges
                                h = int((log_usd_h[v, b] + log_factor - hist_lo) * hist_inv_width)
                                h = min(max(h, 0), n_hist - 1)
                                while h > 0 and usd < hist_edges[h]:
                                    h -= 1
                                while h < n_hist - 1 and usd >= hist_edges[h + 1]:
                                    h += 1
                                hist[h] += 1
                            if top_k > 0 and usd <= top_val[v, top_k - 1]:
                                _topk_insert_nb(top_val, top_row, v, usd, v * stride_v + b * stride_b + row_in)
                            if do_pareto and usd <= best_usd:
                                r = v * stride_v + b * stride_b + row_in
                                if usd < best_usd or r < best_row:
                                    best_usd = usd
                                    best_row = r
                    if do_pareto and best_row >= 0:
                        speed = 1.0 / tpot
                        pb = _pareto_bin_nb(speed, bits)
                        if best_usd < faster_min[pb]:
                            if best_usd < bin_min[pb]:
                                bin_min[pb] = best_usd
                                bin_speed[pb] = speed
                                bin_row[pb] = best_row
                                j = pb - 1
                                while j >= 0 and faster_min[j] > best_usd:
                                    faster_min[j] = best_usd
                                    j -= 1
                            n = cand_n[0]
                            if n == cap:
                                n = _pareto_prune_nb(cand_speed, cand_cost, cand_row, n, faster_min, bin_min,
                                                     bin_speed, bin_row, bits)
                                if n == cap:
                                    counters[N_OVERFLOW] += 1
                                    n -= 1
                            cand_speed[n] = speed
                            cand_cost[n] = best_usd
                            cand_row[n] = best_row
                            cand_n[0] = n + 1


@njit(**JIT_LEAF)
def _topk_insert_nb(vals, rows, g, v, r):
    """Insert (v, r) into group g's sorted k smallest (value, row) keys vals[g], rows[g] when it belongs there."""
    last = vals.shape[1] - 1
    if v > vals[g, last] or (v == vals[g, last] and r >= rows[g, last]):
        return
    j = last
    while j > 0 and (v < vals[g, j - 1] or (v == vals[g, j - 1] and r < rows[g, j - 1])):
        vals[g, j] = vals[g, j - 1]
        rows[g, j] = rows[g, j - 1]
        j -= 1
    vals[g, j] = v
    rows[g, j] = r


@njit(**JIT_PARALLEL)
def sweep_blocks_nb(blk_lo, blk_hi, archs, tchips, mchips, usd_h, log_usd_h, chip_tvars, chip_mvars, tvar_variants,
                    variant_mslot, tps, pps, inputs, outputs, batches, ctx_of, n_ctx, cfg_template, max_ttft, max_tpot,
                    hist_lo, hist_inv_width, hist_edges, top_k, do_hist, do_pareto, hist, counters, top_val, top_row,
                    bin_min, bin_speed, bin_row, faster_min, cand_speed, cand_cost, cand_row, cand_n):
    """Blocks [blk_lo, blk_hi) of (chip, model, tp, pp), folded into per-thread reductions (leading axis:
    thread): hist, counters (N_*), top_val/top_row (k smallest ($/M tokens, row) per chip variant),
    Pareto state (per speed bin: the cheapest point, and the cheapest of the faster bins) and candidates (cand_*, cand_n of them). Blocks are handed out to
    threads one at a time when the caller sets config.DYNAMIC_CHUNK (see design_space.chunk)."""
    nt = hist.shape[0]
    n_in, n_out, n_b = inputs.shape[0], outputs.shape[0], batches.shape[0]
    maxb = np.empty((nt, chip_mvars.shape[1], n_in, n_out))
    ttft_s = np.empty((nt, n_in))
    busy_s = np.empty((nt, n_in))
    tpot_cache = np.empty((nt, n_ctx * n_b))
    bits = np.empty((nt, 1))
    cfgs = np.empty((nt, cfg_template.shape[0]))
    flops = np.zeros((nt, N_OPS))
    nbytes = np.zeros((nt, N_OPS))
    count = np.zeros((nt, N_OPS))
    times = np.zeros((nt, N_OPS))
    bounds = np.zeros((nt, N_OPS), dtype=np.int64)
    bound_time = np.zeros((nt, 3))
    for i in range(nt):
        cfgs[i] = cfg_template
    for x in prange(blk_hi - blk_lo):
        tid = get_thread_id()
        _block_nb(blk_lo + x, archs, tchips, mchips, usd_h, log_usd_h, chip_tvars, chip_mvars, tvar_variants,
                  variant_mslot, tps, pps, inputs, outputs, batches, ctx_of, cfgs[tid], max_ttft, max_tpot,
                  hist_lo, hist_inv_width, hist_edges, top_k, do_hist, do_pareto, hist[tid], counters[tid],
                  top_val[tid], top_row[tid], bin_min[tid], bin_speed[tid], bin_row[tid], faster_min[tid],
                  cand_speed[tid], cand_cost[tid],
                  cand_row[tid], cand_n[tid], maxb[tid], ttft_s[tid], busy_s[tid], tpot_cache[tid], bits[tid],
                  flops[tid], nbytes[tid], count[tid], times[tid], bounds[tid], bound_time[tid])
