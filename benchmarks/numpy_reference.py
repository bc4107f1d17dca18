"""The sweep in vectorised NumPy, factorised the same way as the numba kernel: the reference the
kernel's speed is measured against (benchmarks/test_bench_sweep.py, .ci/run).

Each quantity is computed once on the axes it depends on, by broadcasting: the largest batch on memory variant x lengths; prefill on timing variant x input;
the decode step on timing variant x distinct average context x batch; then per point one multiply,
with the reductions (count, histogram, best k per chip variant, Pareto front) done on whole arrays,
one block (chip, model, tp, pp) at a time so memory stays bounded. Same formulas as
infersim.kernels, written again with arrays (it checks them as much as they check it). Not used by
infersim itself.
"""

from __future__ import annotations

import numpy as np

from infersim.kernels import layout as L
from infersim.kernels.grid_sweep import chip_hour_table_nb
from infersim.design_space.chunk import HIST_EDGES, HIST_USD_EDGES

NORM_PASSES, NORM_FLOPS, LOGIT_BYTES = 8.0, 12.0, 4.0
ACT_TENSORS, ACT_SHARE = 4.0, 0.10


def _ctx_sum(past, new, window):
    full = new * past + new * (new + 1) / 2
    k = np.minimum(new, window - past)
    win = np.where(past >= window, new * window, k * past + k * (k + 1) / 2 + (new - k) * window)
    return np.where(window <= 0, full, win)


def _link(group, c):
    inside = group <= c[L.C_UP_DOMAIN]
    return np.where(inside, c[L.C_UP_BW], c[L.C_OUT_BW]), np.where(inside, c[L.C_UP_LAT_S], c[L.C_OUT_LAT_S])


def step_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp):
    """(seconds of one step through all stages, seconds of its stage-to-stage hops). `a` is one model
    row; `c` a list of chip columns, each broadcastable against n_seqs/new/past; no attention DP, EP 1."""
    d, layers = a[L.A_HIDDEN], a[L.A_N_LAYERS]
    n = n_seqs * new
    shard = min(tp, a[L.A_KV_SHARD_MAX])
    eff_c = c[L.C_EFF_DECODE] if decode else c[L.C_EFF_PREFILL]
    peak_eff, bw_eff, loss = c[L.C_PEAK_FLOPS] * eff_c, c[L.C_MEM_BW] * c[L.C_EFF_MEM], c[L.C_OVERLAP_LOSS]

    def roof(count, flops, nbytes, share=1.0):
        tc, tm = flops / (peak_eff * share), nbytes / bw_eff
        return count * (np.maximum(tc, tm) + loss * np.minimum(tc, tm))

    t = roof(1.0, 0.0, n * d * wb / tp + n * d * ab)
    qkv = a[L.A_QKV_PARAMS]
    t = t + roof(layers, 2 * n * qkv / tp, qkv * wb / tp + n * d * ab + n * a[L.A_QKV_OUT] / tp * ab)
    dim = a[L.A_ATT_DIM_DECODE] if decode else a[L.A_ATT_DIM_PREFILL]
    kv_tok = a[L.A_KV_ELEMS] * kvb / shard
    io = n * (a[L.A_QKV_OUT] + a[L.A_O_IN]) / tp * ab
    nwin = a[L.A_N_WINDOW_LAYERS]
    for lay, win in ((layers - nwin, 0.0), (nwin, a[L.A_WINDOW])):
        if lay > 0:
            cached = past if win <= 0 else np.minimum(past, win)
            t = t + roof(lay, 2 * dim * n_seqs * _ctx_sum(past, new, win) / tp,
                         n_seqs * (cached + new) * kv_tok + n * kv_tok + io)
    o = a[L.A_O_PARAMS]
    t = t + roof(layers, 2 * n * o / tp, o * wb / tp + n * (a[L.A_O_IN] / tp + d) * ab)
    if a[L.A_N_DENSE_LAYERS] > 0:
        mlp = a[L.A_DENSE_MLP_PARAMS]
        t = t + roof(a[L.A_N_DENSE_LAYERS], 2 * n * mlp / tp,
                     mlp * wb / tp + n * (2 * d + 3 * a[L.A_DENSE_FFN] / tp) * ab)
    moe = a[L.A_N_MOE_LAYERS]
    if moe > 0:
        e, k, pe = a[L.A_N_EXPERTS], a[L.A_TOPK], a[L.A_EXPERT_PARAMS]
        f = a[L.A_EXPERT_FFN]
        touched = e * (1 - (1 - k / e) ** n) / 1.0 if e > 0 else 0.0      # EP 1: this rank holds every expert
        t = t + roof(moe, 2 * n * d * e, d * e * wb + n * d * ab)
        # grouped GEMM: every touched expert computes at least a row tile (a GPU's m16), useful share pairs / rows
        pairs = n * k
        tile = np.maximum(c[L.C_GEMM_ROW_TILE], 1.0)
        useful = np.where(n > 0, pairs / np.maximum(pairs, touched * tile), 1.0)
        t = t + roof(moe, 2 * n * k * pe / tp, touched * pe * wb / tp + n * k / 1.0 * (2 * d + 3 * f / tp) * ab, useful)
        s = a[L.A_N_SHARED]
        if s > 0:
            t = t + roof(moe, 2 * n * s * pe / tp, s * pe * wb / tp + n * s * (2 * d + 3 * f / tp) * ab)
    t = t + roof(layers, NORM_FLOPS * n * d, NORM_PASSES * n * d * ab)
    v = a[L.A_VOCAB]
    t = t + roof(1.0, 2 * n_seqs * d * v / tp, d * v * wb / tp + n_seqs * d * ab + n_seqs * v / tp * LOGIT_BYTES)
    msg = n * d * ab
    eff_n = c[L.C_EFF_NET]
    if tp > 1:
        bw, lat = _link(tp, c)
        ring = 2 * (tp - 1) * lat + 2 * (tp - 1) / tp * msg / (bw * eff_n)
        tree = 2 * np.ceil(np.log2(tp)) * lat + 2 * msg / (bw * eff_n)
        ring = np.where(msg <= 0, 0.0, ring)
        tree = np.where(msg <= 0, 0.0, tree)
        t = t + (layers + a[L.A_N_DENSE_LAYERS] + moe) * np.minimum(ring, tree)
    hops = 0.0
    if pp > 1:
        bw, lat = _link(tp * pp, c)
        hops = (pp - 1) * np.where(msg / tp <= 0, lat, lat + msg / tp / (bw * eff_n))
        t = t + hops
    return t, hops


def max_batch(a, c, tp, pp, inp, outp, wb, kvb, ab, chunk_tokens=8192.0):
    """Largest batch per memory-variant chip columns `c` x input x output (broadcast)."""
    usable = c[L.C_MEM_BYTES] * c[L.C_USABLE_FRAC]
    routed = a[L.A_N_MOE_LAYERS] * a[L.A_N_EXPERTS] * a[L.A_EXPERT_PARAMS]   # spread over tp x attn_dp (1)
    weights = ((a[L.A_TOTAL_PARAMS] - routed) / tp + routed / tp) * wb / pp
    shard = min(tp, a[L.A_KV_SHARD_MAX])
    ctx = inp + outp
    nwin = a[L.A_N_WINDOW_LAYERS]
    win_tok = np.minimum(ctx, a[L.A_WINDOW]) if nwin > 0 else 0.0
    kv_seq = ((a[L.A_N_LAYERS] - nwin) * ctx + nwin * win_tok) * a[L.A_KV_ELEMS] * kvb / (pp * shard)
    ffn = max(a[L.A_DENSE_FFN], a[L.A_TOPK] * a[L.A_EXPERT_FFN])
    per_tok = (ACT_TENSORS * a[L.A_HIDDEN] + 3.0 * ffn / tp) * ab
    chunk = np.maximum(1.0, np.minimum(np.minimum(chunk_tokens, inp), np.floor(ACT_SHARE * usable / per_tok)))
    per_seq = kv_seq + per_tok + a[L.A_VOCAB] / tp * 4.0
    free = usable - weights - chunk * per_tok
    return np.where(free > 0, np.floor(free / per_seq), 0.0)


def _cols(rows, shape_tail):
    """Chip columns of `rows` (variants x C_FIELDS) broadcastable as [variant, 1, 1, ...]."""
    return [rows[:, f].reshape((-1,) + (1,) * shape_tail) for f in range(rows.shape[1])]


class Reference:
    """The reductions of a whole sweep, block by block (same grid and tie rules as the kernel)."""

    def __init__(self, g, spec):
        self.g, self.spec = g, spec
        r = spec.reduce
        self.max_ttft = (r.max_ttft_ms or 0.0) / 1e3
        self.max_tpot = (r.max_tpot_ms or 0.0) / 1e3
        # $/chip-hour [variant, budget]: 1,536 numbers for the billion-point grid, from the cost kernel (its time
        # does not matter; old_numpy_reference.chip_hour is a vectorised version, compared in a test)
        self.usd_h = np.empty((g.costs.shape[0], g.budgets.shape[0]))
        chip_hour_table_nb(g.costs, g.budgets, self.usd_h)
        self.log_usd_h = np.log10(self.usd_h)
        ctx = g.inputs[:, None] + (g.outputs[None, :] - 1.0) / 2.0
        self.ctx, self.ctx_of = np.unique(ctx, return_inverse=True)
        self.ctx_of = self.ctx_of.reshape(ctx.shape)
        self.hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64)
        self.feasible = 0
        self.top = []        # (usd, row, chip variant) candidates per block, folded at the end
        self.front = []      # [(speed, usd, row)] of the front so far
        self.stages = {}     # block -> stage arrays, when asked to keep them (checks)

    def run(self, blk_lo, blk_hi, keep_stages=False):
        for blk in range(blk_lo, blk_hi):
            self._block(blk, keep_stages)

    def _block(self, blk, keep_stages):
        g = self.g
        n_m, n_t, n_p = g.archs.shape[0], g.tps.shape[0], g.pps.shape[0]
        p, t, m, c = blk % n_p, (blk // n_p) % n_t, (blk // (n_p * n_t)) % n_m, blk // (n_p * n_t * n_m)
        a, tp, pp = g.archs[m], g.tps[t], g.pps[p]
        wb, kvb, ab = g.w_bytes, g.kv_bytes, g.cfg[L.K_ACT_BYTES]
        inp, outp, batch = g.inputs, g.outputs, g.batches
        n_in, n_out, n_b = len(inp), len(outp), len(batch)
        mvars, tvars = g.chip_mvars[c], g.chip_tvars[c]
        # largest batch: [memory variant, input, output]
        maxb = max_batch(a, _cols(g.mchips[mvars], 2), tp, pp, inp[:, None], outp[None, :], wb, kvb, ab,
                         g.cfg[L.K_PREFILL_CHUNK])
        # prefill: [timing variant, input]
        cols = _cols(g.tchips[tvars], 1)
        budget = g.cfg[L.K_PREFILL_CHUNK]
        t_pf, hops = (np.array(x, dtype=float) for x in np.broadcast_arrays(
            *step_time(a, cols, 1.0, inp[None, :], 0.0, False, wb, kvb, ab, tp, pp)))
        for j in np.nonzero(inp > budget)[0] if budget > 0 else ():   # a prompt longer than the budget: chunks
            t_pf[:, j] = hops[:, j] = 0.0
            for done in np.arange(0.0, inp[j], budget):
                t_c, hops_c = step_time(a, cols, 1.0, min(budget, inp[j] - done), done, False, wb, kvb, ab, tp, pp)
                t_pf[:, j] += np.broadcast_to(t_c, (t_pf.shape[0], 1))[:, 0]
                hops[:, j] += np.broadcast_to(hops_c, (t_pf.shape[0], 1))[:, 0]
        ttft = t_pf + cols[L.C_PREFILL_OVERHEAD_S]
        # the replica prefills prompts batched up to the token budget: busy per prompt
        prompts = np.maximum(1.0, np.floor(budget / inp)) if budget > 0 else np.ones_like(inp)
        t_b, hops_b = step_time(a, cols, prompts[None, :], inp[None, :], 0.0, False, wb, kvb, ab, tp, pp)
        single = prompts[None, :] <= 1.0       # one prompt per pass: the (chunked) TTFT pass
        t_b, hops_b = np.where(single, t_pf, t_b), np.where(single, hops, hops_b)
        busy = ((t_b - hops_b) / pp + cols[L.C_PREFILL_OVERHEAD_S]) / prompts[None, :]
        # decode: [timing variant, distinct context, batch]
        cols = _cols(g.tchips[tvars], 2)
        micro = np.minimum(batch, pp)
        t_dec, _ = step_time(a, cols, (batch / micro)[None, None, :], 1.0, self.ctx[None, :, None], True, wb, kvb, ab,
                             tp, pp)
        tpot_u = t_dec + cols[L.C_OVERHEAD_S]
        # per timing point [tv, in, out, batch]
        tpot = tpot_u[:, self.ctx_of, :]
        B, O = batch[None, None, None, :], outp[None, None, :, None]
        cycle = np.maximum(O - 1.0, 0.0) * tpot + B * busy[:, :, None, None]
        tok_s = B * O / cycle
        factor = tp * pp * 1e6 / (3600.0 * tok_s)
        ok_t = np.ones(tpot.shape, dtype=bool)
        if self.max_tpot > 0:
            ok_t &= tpot <= self.max_tpot
        if self.max_ttft > 0:
            ok_t &= (ttft <= self.max_ttft)[:, :, None, None]
        if keep_stages:
            self.stages[blk] = dict(maxb=maxb, ttft=ttft, busy=busy, tpot=tpot, factor=factor)
        # per point [tv, variant of tv, budget, in, out, batch]
        variants = g.tvar_variants[tvars]                                      # [tv, j]
        slots = g.variant_mslot[variants]
        keep = (batch[None, None, None, None, :] <= maxb[slots][:, :, :, :, None]) & ok_t[:, None]   # [tv, j, in, out, b]
        n_bud = g.budgets.shape[0]
        self.feasible += int(keep.sum()) * n_bud
        usd = self.usd_h[variants][:, :, :, None, None, None] * factor[:, None, None]
        keep6 = np.broadcast_to(keep[:, :, None], usd.shape)
        # histogram of log10 $/M tokens: the bin from logs, made exact against the edges (as the kernel);
        # points not kept go to an extra bin that is dropped
        nh = len(HIST_EDGES) - 1
        lg = self.log_usd_h[variants][:, :, :, None, None, None] + np.log10(factor)[:, None, None]
        h = ((lg - HIST_EDGES[0]) * (nh / (HIST_EDGES[-1] - HIST_EDGES[0]))).astype(np.int64)
        np.clip(h, 0, nh - 1, out=h)
        h -= (h > 0) & (usd < HIST_USD_EDGES[h])
        h += (h < nh - 1) & (usd >= HIST_USD_EDGES[h + 1])
        h[~keep6] = nh
        self.hist += np.bincount(h.ravel(), minlength=nh + 1)[:nh]
        masked = np.where(keep6, usd, np.inf)
        stride_b = n_t * n_p * n_in * n_out * n_b
        stride_v = n_m * n_bud * stride_b
        row_in = (np.arange(n_in)[:, None, None] * n_out + np.arange(n_out)[None, :, None]) * n_b \
            + np.arange(n_b)[None, None, :] + m * n_bud * stride_b + (t * n_p + p) * n_in * n_out * n_b
        k = self.spec.reduce.top_k
        if k:
            # per chip variant: the k smallest with every tie at the k-th value, then exact (value, row) order
            flat = masked.reshape(masked.shape[0] * masked.shape[1], -1)
            kth = np.partition(flat, min(k, flat.shape[1]) - 1, axis=1)[:, min(k, flat.shape[1]) - 1]
            gi, idx = np.nonzero((flat <= kth[:, None]) & np.isfinite(flat))
            bud, rest = np.divmod(idx, n_in * n_out * n_b)
            v = variants.ravel()[gi]
            self.top.append((flat[gi, idx], v * stride_v + bud * stride_b + row_in.ravel()[rest], v))
        if self.spec.reduce.pareto:
            # one candidate per timing point: its cheapest kept variant (ties: the lower row comes first)
            n_tv = masked.shape[0]
            flat = np.moveaxis(masked, (1, 2), (4, 5)).reshape(n_tv, n_in * n_out * n_b, -1)
            arg = flat.argmin(axis=2)
            cost = np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0]
            ti, rest = np.nonzero(np.isfinite(cost))
            if len(ti):
                j, bud = np.divmod(arg[ti, rest], n_bud)
                v = variants[ti, j]
                cand = ((1.0 / tpot).reshape(n_tv, -1)[ti, rest], cost[ti, rest],
                        v * stride_v + bud * stride_b + row_in.ravel()[rest])
                self._front_update(*cand)

    def _front_update(self, speed, cost, rows):
        """Drop the candidates the current front dominates, then the exact front of what is left and it."""
        if self.front:
            fs, fc, fr = self.front[0]                       # speed descending, cost strictly falling
            faster = np.searchsorted(-fs, -speed, side="left")        # front points strictly faster
            as_fast = np.searchsorted(-fs, -speed, side="right")      # ... or as fast
            pm = np.concatenate(([np.inf], np.minimum.accumulate(fc)))
            alive = (pm[faster] > cost) & (pm[as_fast] >= cost)
            speed, cost, rows = speed[alive], cost[alive], rows[alive]
            speed, cost, rows = (np.concatenate((a, b)) for a, b in ((fs, speed), (fc, cost), (fr, rows)))
        self.front = [_front(speed, cost, rows)]

    @staticmethod
    def _topk(u, rows, groups, k):
        order = np.lexsort((rows, u, groups))
        g_sorted = groups[order]
        first = np.searchsorted(g_sorted, g_sorted, side="left")
        take = order[np.arange(len(order)) - first < k]
        return u[take], rows[take], groups[take]

    def result(self):
        """(count kept, histogram, top-k rows sorted, Pareto front rows sorted)."""
        top = np.empty(0, dtype=np.int64)
        if self.top:
            u, rows, groups = (np.concatenate(x) for x in zip(*self.top))
            top = np.sort(self._topk(u, rows, groups, self.spec.reduce.top_k)[1])
        front = np.sort(self.front[0][2]) if self.front else np.empty(0, dtype=np.int64)
        return self.feasible, self.hist, top, front


def _front(speed, cost, rows):
    """The Pareto front (speed up, cost down; exact ties to the lower row) of the given points."""
    order = np.lexsort((rows, cost, -speed))
    c = cost[order]
    best_before = np.concatenate(([np.inf], np.minimum.accumulate(c)[:-1]))
    on = order[c < best_before]
    return speed[on], cost[on], rows[on]
