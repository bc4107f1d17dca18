"""Plain-Python twins of every numba kernel, written from the formulas, not from the kernels.

Each takes and returns ordinary Python values (dicts keyed by operator name) so that a test
can compare the kernel against an independent implementation on random inputs.
"""

from __future__ import annotations

import math

from infersim.kernels import layout as L

COMPUTE, MEMORY, NETWORK = "compute", "memory", "network"


def roofline(flops, nbytes, peak, bw, eff_c, eff_m, overlap_loss=0.0):
    tc = flops / (peak * eff_c)
    tm = nbytes / (bw * eff_m)
    exposed = overlap_loss * min(tc, tm)   # the part of the shorter term not hidden under the longer
    return (tc + exposed, COMPUTE) if tc >= tm else (tm + exposed, MEMORY)


def ring_allreduce(msg, group, bw, lat, eff):
    if group <= 1 or msg <= 0:
        return 0.0
    steps = 2 * (group - 1)  # reduce-scatter then all-gather, each g-1 steps of msg/g
    return steps * lat + steps * (msg / group) / (bw * eff)


def tree_allreduce(msg, group, bw, lat, eff):
    if group <= 1 or msg <= 0:
        return 0.0
    depth = 0
    while 2 ** depth < group:  # levels of a binary tree over `group` chips
        depth += 1
    return 2 * depth * lat + 2 * msg / (bw * eff)


def allreduce(msg, group, bw, lat, eff):
    return min(ring_allreduce(msg, group, bw, lat, eff), tree_allreduce(msg, group, bw, lat, eff))


def exchange_time(up_bytes, out_bytes, up_bw, out_bw, eff, latency):
    t_up = up_bytes / (up_bw * eff) if up_bytes > 0 else 0.0
    t_out = out_bytes / (out_bw * eff) if out_bytes > 0 else 0.0
    return max(t_up, t_out) + latency


def torus_hops(group, dims):
    """Brute force: mean wrap-around distance between chips of a dims-dimensional torus of side
    group^(1/dims), averaged over all pairs (even sides give side / 4 per dimension)."""
    if dims <= 0 or group <= 1:
        return 1.0
    side = round(group ** (1 / dims))
    ring = sum(min(i, side - i) for i in range(side)) / side
    return max(1.0, dims * ring)


def p2p(msg, bw, lat, eff):
    return lat if msg <= 0 else lat + msg / (bw * eff)


def link(group, domain, up_bw, up_lat, out_bw, out_lat):
    return (up_bw, up_lat) if group <= domain else (out_bw, out_lat)


def context_sum(past, new, window):
    """Brute force: token i (1..new) attends to min(past + i, window) positions."""
    total = 0.0
    for i in range(1, int(new) + 1):
        seen = past + i
        total += min(seen, window) if window > 0 else seen
    return total


def expected_max_of_normals(n):
    """E[max of n standard normals], Blom's plotting position Phi^-1((n - 0.375) / (n + 0.25))."""
    import statistics

    return 0.0 if n <= 1 else statistics.NormalDist().inv_cdf((n - 0.375) / (n + 0.25))


def busiest_rank(e, k, ep, redundant, skew, tokens):
    """(expert slots on the busiest rank, its pairs over the mean rank's)."""
    slots = e + redundant
    per_rank = math.ceil(slots / ep - 1e-9)
    pairs = tokens * k
    if ep <= 1 or pairs <= 0:
        return per_rank, 1.0
    if skew <= 0:
        share = 1 / ep
    else:
        w = [(i + 1) ** -skew for i in range(int(e))]
        p = [x / sum(w) for x in w]
        if redundant <= 0:   # the rank that holds the hottest expert, the rest of its slots average
            share = max(p[0] + (per_rank - 1) * (1 - p[0]) / (e - 1), 1 / ep)
        else:                # EPLB: each extra slot copies the expert with the most load per copy
            copies = [1] * int(e)
            for _ in range(int(redundant)):
                i = max(range(int(e)), key=lambda j: p[j] / copies[j])
                copies[i] += 1
            share = max(max(p[j] / copies[j] for j in range(int(e))), 1 / ep)
    busiest = pairs * share + math.sqrt(pairs * share * (1 - share)) * expected_max_of_normals(ep)
    return per_rank, busiest / (pairs / ep)


def busiest_group_seqs(n_seqs, attn_dp):
    """Sequences on the busiest attention group: an even share, never less than one whole sequence."""
    return max(n_seqs / attn_dp, min(n_seqs, 1.0))


def op_costs(a, n_seqs, new, past, decode, wb, kvb, ab, tp, attn_dp=1, ep=1, redundant=0, skew=0.0):
    """Per-op (flops, bytes, count) per chip for one instance; dict keyed by op name.

    Everything but the routed experts runs on the busiest attention group (tp chips); the routed
    experts take the whole micro-batch over tp x attn_dp chips (ep ranks x expert TP)."""
    g = lambda f: a[f]  # noqa: E731
    d = g(L.A_HIDDEN)
    seqs = busiest_group_seqs(n_seqs, attn_dp)
    n = seqs * new
    layers = g(L.A_N_LAYERS)
    shard = min(tp, g(L.A_KV_SHARD_MAX))
    ops = {}
    ops["embed"] = (0.0, n * d * wb / tp + n * d * ab, 1.0)
    ops["qkv_proj"] = (2 * n * g(L.A_QKV_PARAMS) / tp,
                       g(L.A_QKV_PARAMS) * wb / tp + n * d * ab + n * g(L.A_QKV_OUT) / tp * ab, layers)
    dim = g(L.A_ATT_DIM_DECODE) if decode else g(L.A_ATT_DIM_PREFILL)
    kv_tok = g(L.A_KV_ELEMS) * kvb / shard
    io = n * (g(L.A_QKV_OUT) + g(L.A_O_IN)) / tp * ab
    nwin = g(L.A_N_WINDOW_LAYERS)
    for name, lay, win in (("attention", layers - nwin, 0.0), ("attention_window", nwin, g(L.A_WINDOW))):
        if lay > 0:
            cached = past if win <= 0 else min(past, win)
            ops[name] = (2 * dim * seqs * context_sum(past, new, win) / tp,
                         seqs * (cached + new) * kv_tok + n * kv_tok + io, lay)
    ops["o_proj"] = (2 * n * g(L.A_O_PARAMS) / tp,
                     g(L.A_O_PARAMS) * wb / tp + n * (g(L.A_O_IN) / tp + d) * ab, layers)
    if g(L.A_N_DENSE_LAYERS) > 0:
        p = g(L.A_DENSE_MLP_PARAMS)
        ops["mlp"] = (2 * n * p / tp, p * wb / tp + n * (2 * d + 3 * g(L.A_DENSE_FFN) / tp) * ab,
                      g(L.A_N_DENSE_LAYERS))
    moe = g(L.A_N_MOE_LAYERS)
    if moe > 0:
        e, k, pe, f = g(L.A_N_EXPERTS), g(L.A_TOPK), g(L.A_EXPERT_PARAMS), g(L.A_EXPERT_FFN)
        chips = tp * attn_dp                 # the routed experts of a stage are spread over these
        etp = chips / ep                     # chips one expert is split over
        tokens = n_seqs * new                # every token of the micro-batch reaches the experts
        per_rank, load = busiest_rank(e, k, ep, redundant, skew, tokens)
        pairs = tokens * k / ep * load                           # on the busiest rank
        touched = per_rank * (1 - (1 - k / e) ** tokens)         # its slots any token reaches
        ops["moe_router"] = (2 * n * d * e, d * e * wb + n * d * ab, moe)
        ops["moe_experts"] = (2 * pairs * pe / etp, touched * pe * wb / etp + pairs * (2 * d + 3 * f / etp) * ab, moe)
        s = g(L.A_N_SHARED)
        if s > 0:
            ops["moe_shared_experts"] = (2 * n * s * pe / tp, s * pe * wb / tp + n * s * (2 * d + 3 * f / tp) * ab, moe)
    ops["norm_elementwise"] = (12.0 * n * d, 8.0 * n * d * ab, layers)
    v = g(L.A_VOCAB)
    ops["lm_head"] = (2 * seqs * d * v / tp, d * v * wb / tp + seqs * d * ab + seqs * v / tp * 4.0, 1.0)
    return ops


def prob_no_expert_in(n_experts, topk, held):
    """P(none of k distinct experts drawn from E lands in a given set of `held`): hypergeometric."""
    p = 1.0
    for i in range(int(topk)):
        p *= max(n_experts - held - i, 0.0) / (n_experts - i)
    return p


def exchange_copies(a, tp, attn_dp, ep, domain, low_latency):
    """(scale-up, scale-out) copies of one token that a dispatch sends (the combine returns as many)."""
    if attn_dp <= 1 or a[L.A_N_MOE_LAYERS] <= 0:
        return 0.0, 0.0
    e, k = a[L.A_N_EXPERTS], a[L.A_TOPK]
    chips = tp * attn_dp
    etp = chips / ep
    in_domain = min(max(domain, 1), chips)
    share_group, share_near, share_far = tp / chips, max(in_domain - tp, 0) / chips, (chips - in_domain) / chips
    if low_latency and ep > 1:  # a message per (token, expert shard)
        return k * etp * share_near, k * etp * share_far
    ranks_hit = ep * (1 - prob_no_expert_in(e, k, e / ep))
    up = ranks_hit * etp * (1 - share_group)
    out = 0.0
    if share_far > 0:
        domains = chips / in_domain
        per_domain = e / ep * max(in_domain / etp, 1.0)
        out = (domains - 1) * (1 - prob_no_expert_in(e, k, per_domain))
    return up, out


def expert_exchange(a, c, tp, attn_dp, ep, group_tokens, decode, dispatch_bytes, act_bytes, redundant=0, skew=0.0):
    """(seconds, bytes per chip) of one MoE layer's dispatch + combine; the busiest receiver sets it."""
    up, out = exchange_copies(a, tp, attn_dp, ep, c[L.C_UP_DOMAIN], decode)
    if up + out <= 0:
        return 0.0, 0.0
    _, load = busiest_rank(a[L.A_N_EXPERTS], a[L.A_TOPK], ep, redundant, skew, group_tokens * attn_dp)
    elems = group_tokens / tp * a[L.A_HIDDEN] * load
    chips = tp * attn_dp
    g = min(chips, c[L.C_UP_DOMAIN])
    dims = c[L.C_UP_TORUS_DIMS]
    hops = max(1.0, dims * g ** (1 / dims) / 4) if dims > 0 and g > 1 else 1.0
    up_bw, out_bw, eff = c[L.C_UP_BW] / hops, c[L.C_OUT_BW], c[L.C_EFF_NET]
    if decode:
        lat = c[L.C_OUT_LAT_S] if out > 0 else c[L.C_UP_LAT_S]
    else:
        lat = 2 * (c[L.C_UP_LAT_S] + (c[L.C_OUT_LAT_S] if out > 0 else 0.0))
    total = 0.0
    for b in (dispatch_bytes or act_bytes, act_bytes):
        t_up = elems * up * b / (up_bw * eff) if up > 0 else 0.0
        t_out = elems * out * b / (out_bw * eff) if out > 0 else 0.0
        total += max(t_up, t_out) + lat
    return total, elems * (up + out) * ((dispatch_bytes or act_bytes) + act_bytes)


def weights_read(a, name, tp, attn_dp, ep, redundant, tokens):
    """Weight elements one chip reads for one instance of an op (what weight-only quantisation unpacks)."""
    d, pe = a[L.A_HIDDEN], a[L.A_EXPERT_PARAMS]
    if name == "moe_experts":
        per_rank = math.ceil((a[L.A_N_EXPERTS] + redundant) / ep - 1e-9)
        return per_rank * (1 - (1 - a[L.A_TOPK] / a[L.A_N_EXPERTS]) ** tokens) * pe / (tp * attn_dp / ep)
    return {"qkv_proj": a[L.A_QKV_PARAMS], "o_proj": a[L.A_O_PARAMS], "mlp": a[L.A_DENSE_MLP_PARAMS],
            "moe_shared_experts": a[L.A_N_SHARED] * pe, "lm_head": d * a[L.A_VOCAB]}.get(name, 0.0) / tp


def compute_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, attn_dp, ep, redundant=0, skew=0.0, dequant=0.0):
    eff_c = c[L.C_EFF_DECODE] if decode else c[L.C_EFF_PREFILL]
    table = {}
    for name, (f, b, cnt) in op_costs(a, n_seqs, new, past, decode, wb, kvb, ab, tp, attn_dp, ep, redundant,
                                      skew).items():
        e_c = eff_c
        if name == "moe_experts" and n_seqs * new > 0:   # each touched expert computes >= a tile of rows
            _, load = busiest_rank(a[L.A_N_EXPERTS], a[L.A_TOPK], ep, redundant, skew, n_seqs * new)
            pairs = n_seqs * new * a[L.A_TOPK] / ep * load
            per_rank = math.ceil((a[L.A_N_EXPERTS] + redundant) / ep - 1e-9)
            touched = per_rank * (1 - (1 - a[L.A_TOPK] / a[L.A_N_EXPERTS]) ** (n_seqs * new))
            e_c *= pairs / max(pairs, touched * max(c[L.C_GEMM_ROW_TILE], 1.0))
        unpack_s = weights_read(a, name, tp, attn_dp, ep, redundant, n_seqs * new) * dequant / (c[L.C_VECTOR_FLOPS] / 2)
        f = f + unpack_s * c[L.C_PEAK_FLOPS] * e_c    # weight-only: vector-unit seconds on the compute side
        t, bound = roofline(f, b, c[L.C_PEAK_FLOPS], c[L.C_MEM_BW], e_c, c[L.C_EFF_MEM], c[L.C_OVERLAP_LOSS])
        table[name] = (t, bound, cnt)
    return sum(t * cnt for t, _, cnt in table.values()), table


def step_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp, ep, attn_dp=1, dispatch_bytes=0.0, tbo=0,
              redundant=0, skew=0.0, dequant=0.0):
    """(total seconds, {op: (time per instance, bound, count)}) of one micro-batch through all stages."""
    moe_opts = (redundant, skew, dequant)
    compute, table = compute_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, attn_dp, ep, *moe_opts)
    n = busiest_group_seqs(n_seqs, attn_dp) * new
    msg = n * a[L.A_HIDDEN] * ab
    net = (c[L.C_UP_DOMAIN], c[L.C_UP_BW], c[L.C_UP_LAT_S], c[L.C_OUT_BW], c[L.C_OUT_LAT_S])
    moe = a[L.A_N_MOE_LAYERS]
    if tp > 1:
        bw, lat = link(tp, *net)
        cnt = a[L.A_N_LAYERS] + a[L.A_N_DENSE_LAYERS] + moe
        table["tp_allreduce"] = (allreduce(msg, tp, bw, lat, c[L.C_EFF_NET]), NETWORK, cnt)
    if attn_dp > 1 and moe > 0:
        x, _ = expert_exchange(a, c, tp, attn_dp, ep, n, decode, dispatch_bytes, ab, redundant, skew)
        exposed = moe * x
        if tbo and (n_seqs >= 2 or new >= 2):  # two micro-batches, each exchanging under the other's compute
            if new >= 2:   # prefill: half of every prompt in each, the second attending to the first
                first = math.floor(new / 2)
                halves = [(n_seqs, first, past), (n_seqs, new - first, past + first)]
            else:
                halves = [(n_seqs / 2, new, past)] * 2
            x = [moe * expert_exchange(a, c, tp, attn_dp, ep, busiest_group_seqs(s_, attn_dp) * n_, decode,
                                       dispatch_bytes, ab, redundant, skew)[0] for s_, n_, _ in halves]
            cs = [compute_time(a, c, s_, n_, p_, decode, wb, kvb, ab, tp, attn_dp, ep, *moe_opts)[0]
                  for s_, n_, p_ in halves]
            both = max(cs[0], x[1]) + max(cs[1], x[0])   # one's exchange under the other's compute
            if both < compute + exposed:
                exposed = both - compute
        table["ep_alltoall"] = (exposed / moe, NETWORK, moe)
    if pp > 1:
        bw, lat = link(tp * attn_dp * pp, *net)
        table["pp_sendrecv"] = (p2p(msg / tp, bw, lat, c[L.C_EFF_NET]), NETWORK, pp - 1)
    total = sum(t * cnt for t, _, cnt in table.values())
    return total, table


def mixed_step(a, c, n_decode, past_decode, group_chunks, chunk, past_prefill, prompt_tokens, wb, kvb, ab, tp, pp, ep,
               attn_dp=1, dispatch_bytes=0.0, tbo=0, redundant=0, skew=0.0, dequant=0.0, spec_tokens=0):
    """Seconds of one continuous-batching iteration: `n_decode` sequences decoding (1 + spec_tokens
    tokens each) and prompt chunks, `group_chunks` of `chunk` tokens after `past_prefill` on the
    busiest attention group, `prompt_tokens` over all groups. Per operator the two parts' FLOPs and
    bytes add, the weights read once (routed experts: the slots either part touches, once; one
    grouped GEMM pads to the row tile once); the collectives carry the busiest group's tokens."""
    if c[L.C_SPATIAL] > 0:   # a decode pass, then a pass of the prompt chunks
        total = spatial_step(a, c, n_decode, 1, past_decode, True, wb, kvb, ab, tp, pp, ep, attn_dp) if n_decode > 0 else 0.0
        if prompt_tokens > 0 and chunk > 0:
            seqs = max(prompt_tokens / chunk, group_chunks, 1.0)
            total += spatial_step(a, c, seqs, chunk, past_prefill, False, wb, kvb, ab, tp, pp, ep, attn_dp)
        return total
    per_seq = 1 + spec_tokens
    decode_tokens = n_decode * per_seq
    everything = decode_tokens + prompt_tokens
    moe_opts = (redundant, skew)
    dec = op_costs(a, n_decode, per_seq, past_decode, True, wb, kvb, ab, tp, attn_dp, ep, *moe_opts)
    chunks = max(group_chunks, 1.0)
    # the busiest group's own operators: its chunks as a one-group replica of tp chips
    pre = {k: v for k, v in op_costs(a, chunks, chunk, past_prefill, False, wb, kvb, ab, tp).items()
           if k != "moe_experts"}
    if a[L.A_N_MOE_LAYERS] > 0:   # the routed experts take the prompt tokens of every group
        pre["moe_experts"] = op_costs(a, prompt_tokens, 1, 0, False, wb, kvb, ab, tp, attn_dp, ep, *moe_opts)["moe_experts"]
    zero = (0.0, 0.0, 0.0)
    total = 0.0
    for name in set(dec) | set(pre):
        fd, bd, cd = dec.get(name, zero)
        fp, bp, cp = pre.get(name, zero)
        cnt = max(cd, cp)
        if cnt <= 0:
            continue
        eff_d, eff_p = c[L.C_EFF_DECODE], c[L.C_EFF_PREFILL]
        if name == "moe_experts":
            shared = sum(sign * weights_read(a, name, tp, attn_dp, ep, redundant, tokens) * wb
                         for sign, tokens in ((1, decode_tokens), (1, prompt_tokens), (-1, everything)))
            per_rank, load = busiest_rank(a[L.A_N_EXPERTS], a[L.A_TOPK], ep, redundant, skew, everything)
            pairs = everything * a[L.A_TOPK] / ep * load
            touched = per_rank * (1 - (1 - a[L.A_TOPK] / a[L.A_N_EXPERTS]) ** everything)
            tile = pairs / max(pairs, touched * max(c[L.C_GEMM_ROW_TILE], 1.0)) if everything > 0 else 1.0
            eff_d, eff_p = eff_d * tile, eff_p * tile
        else:
            shared = op_costs(a, 0, 0, 0, True, wb, kvb, ab, tp, attn_dp, ep, *moe_opts).get(name, zero)[1]
        unpack = weights_read(a, name, tp, attn_dp, ep, redundant, everything) * dequant / (c[L.C_VECTOR_FLOPS] / 2)
        tc = fd / (c[L.C_PEAK_FLOPS] * eff_d) + fp / (c[L.C_PEAK_FLOPS] * eff_p) + unpack
        tm = (bd + bp - shared) / (c[L.C_MEM_BW] * c[L.C_EFF_MEM])
        total += cnt * (max(tc, tm) + c[L.C_OVERLAP_LOSS] * min(tc, tm))
    group_tokens = busiest_group_seqs(n_decode, attn_dp) * per_seq + chunks * chunk
    replica = group_tokens * attn_dp if group_tokens >= 1 else group_tokens   # its busiest group holds group_tokens
    _, table = step_time(a, c, replica, 1, 0, True, wb, kvb, ab, tp, pp, ep, attn_dp, dispatch_bytes, tbo, *moe_opts,
                         dequant)
    return total + sum(t * cnt for name, (t, _, cnt) in table.items()
                       if name in ("tp_allreduce", "ep_alltoall", "pp_sendrecv"))


def kv_bytes_per_seq(a, ctx, kvb):
    per_layer_tokens = []
    for layer in range(int(a[L.A_N_LAYERS])):
        windowed = layer < a[L.A_N_WINDOW_LAYERS]
        per_layer_tokens.append(min(ctx, a[L.A_WINDOW]) if windowed else ctx)
    return sum(per_layer_tokens) * a[L.A_KV_ELEMS] * kvb


def weights_per_chip(a, tp, pp, attn_dp, wb, ep=1, redundant=0):
    """A chip holds its EP rank's expert slots (ceil((E + redundant) / ep)) split over the rank's
    tp x attn_dp / ep chips, and every other weight over tp."""
    routed = a[L.A_N_MOE_LAYERS] * a[L.A_N_EXPERTS] * a[L.A_EXPERT_PARAMS]
    per_rank = math.ceil((a[L.A_N_EXPERTS] + redundant) / ep - 1e-9)
    mine = a[L.A_N_MOE_LAYERS] * per_rank * a[L.A_EXPERT_PARAMS] / (tp * attn_dp / ep)
    return ((a[L.A_TOTAL_PARAMS] - routed) / tp + mine) * wb / pp


def evaluate(a, c, tp, pp, ep, batch, inp, outp, wb, kvb, ab, reps, chunk, attn_dp=1, dispatch_bytes=0.0, tbo=0,
             redundant=0, skew=0.0, spec=(0, 0.0, 0.0, 0, 0.0), dequant=0.0):
    """... spec = (draft tokens k, acceptance a, draft cost per token, extra launches, draft weights share)."""
    """dict of results for one configuration, following the model's definitions."""
    usable = c[L.C_MEM_BYTES] * c[L.C_USABLE_FRAC]
    k, acc, draft_cost, launches, draft_weights = spec
    weights = weights_per_chip(a, tp, pp, attn_dp, wb, ep, redundant) * (1 + draft_weights)
    shard = min(tp, a[L.A_KV_SHARD_MAX])
    kv_seq = kv_bytes_per_seq(a, inp + outp, kvb) / (pp * shard)
    ffn = max(a[L.A_DENSE_FFN], a[L.A_TOPK] * a[L.A_EXPERT_FFN])
    per_tok = (4 * a[L.A_HIDDEN] + 3 * ffn / tp) * ab
    chunk_tokens = inp if chunk <= 0 else min(chunk, inp)
    chunk_tokens = max(1, min(chunk_tokens, math.floor(0.10 * usable / per_tok)))  # <= 10 % of memory
    per_seq = (kv_seq + per_tok + a[L.A_VOCAB] / tp * 4.0) / attn_dp   # a sequence lives in one of attn_dp groups
    free = usable - weights - chunk_tokens * per_tok
    max_batch = math.floor(free / per_seq) if free > 0 else 0
    b = batch if batch > 0 else max_batch
    res = {"max_batch": max_batch, "fits": 1 <= b <= max_batch}
    if not res["fits"]:
        return res
    moe_opts = (attn_dp, dispatch_bytes, tbo, redundant, skew, dequant)

    def prefill(prompts):
        """(seconds, stage-send seconds): `prompts` prompts per attention group, chunked by the budget."""
        if chunk <= 0 or prompts * inp <= chunk:
            t, table = step_time(a, c, prompts * attn_dp, inp, 0, False, wb, kvb, ab, tp, pp, ep, *moe_opts)
            return t, (table["pp_sendrecv"][0] * table["pp_sendrecv"][2] if pp > 1 else 0.0)
        t_all = hops_all = 0.0
        for start in range(0, int(inp), int(chunk)):          # budget-sized pieces, the last one shorter
            t, table = step_time(a, c, attn_dp, min(chunk, inp - start), start, False, wb, kvb, ab, tp, pp, ep,
                                 *moe_opts)
            t_all += t
            hops_all += table["pp_sendrecv"][0] * table["pp_sendrecv"][2] if pp > 1 else 0.0
        return t_all, hops_all

    t_pf, _ = prefill(1)                                   # TTFT: one prompt per group
    batched = max(1, math.floor(chunk / inp)) if chunk > 0 else 1   # prompts per group the budget holds
    t_batch, hops = prefill(batched)
    micro = min(b, pp)
    t_dec, _ = step_time(a, c, b / micro, 1, inp + (outp - 1) / 2, True, wb, kvb, ab, tp, pp, ep, *moe_opts)
    tpot = t_dec + c[L.C_OVERHEAD_S]
    if k > 0:   # speculative: draft k tokens, verify k + 1 per sequence; E[tokens per step] = sum of a^i, i <= k
        verify, _ = step_time(a, c, b / micro, k + 1, inp + (outp - 1) / 2, True, wb, kvb, ab, tp, pp, ep, *moe_opts)
        step = verify + k * draft_cost * t_dec + (1 + launches) * c[L.C_OVERHEAD_S]
        tpot = step / sum(acc ** i for i in range(int(k) + 1))
    busy = ((t_batch - hops) / pp + c[L.C_PREFILL_OVERHEAD_S]) / (attn_dp * batched)   # per prompt
    cycle = max(outp - 1, 0) * tpot + b * busy  # decode steps plus the prefills of the batch
    replica = b * outp / cycle
    res.update(batch=b, ttft_s=t_pf + c[L.C_PREFILL_OVERHEAD_S], tpot_s=tpot, system_tok_s=replica * reps,
               prefill_share=b * busy / cycle)
    return res


# ---- cost -----------------------------------------------------------------------------------
def crf(rate, years):
    """Annuity factor: the yearly payment that repays 1 over `years` at `rate`."""
    if rate <= 0:
        return 1 / years
    return rate / (1 - (1 + rate) ** -years)


def fat_tree(nic_gbps, cluster, switch_gbps, module_gbps, optical_nic_leaf):
    """Counts per chip of a non-blocking fat tree, by building it level by level: the smallest tier
    count whose switches (half their ports down, half up below the top) reach `cluster` ports."""
    if nic_gbps <= 0:
        return {"tiers": 0, "switches": 0.0, "ports": 0.0, "modules": 0.0, "module_equiv": 0.0}
    k = max(switch_gbps / nic_gbps, 4.0)
    tiers, reach = 1, k                   # one switch: k ports
    while reach < cluster and tiers < 8:
        tiers += 1
        reach = 2 * (k / 2) ** tiers      # a top tier of k-port switches over (tiers-1) folded levels
    ports = 2 * tiers - 1                 # up and down at every level below the top, down at the top
    copper = 1 - optical_nic_leaf
    r = nic_gbps / module_gbps
    nic_side = optical_nic_leaf * max(1.0, r)
    switch_side = (ports - copper) * r
    return {"tiers": tiers, "switches": ports / k, "ports": ports, "modules": nic_side + switch_side,
            "module_equiv": optical_nic_leaf * r + switch_side}


def chip_hour_cost(p, b):
    """dict of $/hour components for one chip (P_* row p, B_* row b)."""
    if p[L.P_BOM] == 1:
        hbm_cost = p[L.P_HBM_GB] * b[L.B_HBM2 + int(p[L.P_HBM_GEN])]
        price = (p[L.P_PARTS_USD] + hbm_cost) / (1 - p[L.P_MARGIN])
        hbm = hbm_cost / (1 - p[L.P_MARGIN])
    else:
        price, hbm = p[L.P_MARKET_USD], 0.0
    ft = fat_tree(p[L.P_NIC_GBPS], b[L.B_CLUSTER_CHIPS], b[L.B_SWITCH_GBPS], b[L.B_MODULE_GBPS], b[L.B_NIC_LEAF_OPTICAL])
    net_usd = ft["switches"] * b[L.B_SWITCH_USD] + ft["module_equiv"] * b[L.B_MODULE_USD]
    up_optics = p[L.P_SCALEUP_MODULES] * p[L.P_SCALEUP_MODULE_USD]
    fabric_w = ft["switches"] * b[L.B_SWITCH_W] + ft["module_equiv"] * b[L.B_MODULE_W] + \
        p[L.P_SCALEUP_MODULES] * p[L.P_SCALEUP_MODULE_W]
    system_w = p[L.P_TDP_W] * (1 + p[L.P_POWER_OVERHEAD])
    years_it = crf(b[L.B_RATE], b[L.B_CHIP_LIFE_Y])
    years_fac = crf(b[L.B_RATE], b[L.B_FACILITY_LIFE_Y])
    hours = 8766.0
    kwh = b[L.B_PUE] / 1000 * b[L.B_USD_PER_KWH]
    c = {
        "chip": price * years_it / hours,
        "hbm": hbm * years_it / hours,
        "server": p[L.P_SERVER_USD] * years_it / hours,
        "scaleup": (p[L.P_SCALEUP_USD] + up_optics) * years_it / hours,
        "network": net_usd * years_it / hours,
        "facility": b[L.B_FACILITY_USD_PER_W] * (system_w + fabric_w) * years_fac / hours,
        "power": (system_w * b[L.B_AVG_POWER] + fabric_w) * kwh,
        "power_idle": (system_w * b[L.B_IDLE_POWER] + fabric_w) * kwh,
        "optics": (up_optics + ft["module_equiv"] * b[L.B_MODULE_USD]) * years_it / hours,
        "optical_modules": p[L.P_SCALEUP_MODULES] + ft["modules"],
        "rent": 0.0,
    }
    c["upkeep"] = b[L.B_UPKEEP] * (c["chip"] + c["server"] + c["scaleup"] + c["network"] + c["facility"])
    c["total"] = c["chip"] + c["server"] + c["scaleup"] + c["network"] + c["facility"] + c["power"] + c["upkeep"]
    c["site_power_peak_w"] = (system_w + fabric_w) * b[L.B_PUE]
    if p[L.P_RENT_USD_H] > 0:
        for k in ("chip", "hbm", "server", "scaleup", "network", "facility", "power", "upkeep", "power_idle", "optics"):
            c[k] = 0.0
        c["rent"] = c["total"] = p[L.P_RENT_USD_H]
    return c


def triangular_ppf(u, low, mode, high):
    """Inverse CDF by bisection on the triangular CDF (independent of the closed form)."""
    if high <= low:
        return mode

    def cdf(x):
        if x <= mode:
            return (x - low) ** 2 / ((high - low) * (mode - low)) if mode > low else 0.0
        return 1 - (high - x) ** 2 / ((high - low) * (high - mode))

    lo, hi = low, high
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < u else (lo, mid)
    return (lo + hi) / 2


# ---- spatial dataflow chips (kernels/spatial_step.py) -------------------------------------------
SPATIAL_PHASES = {"qkv_proj": 1, "attention": 1, "attention_window": 1, "o_proj": 1, "mlp": 2, "moe_router": 1,
                  "moe_experts": 4, "lm_head": 1}  # region traversals per instance (none for the rest)


def spatial_phase(c, groups, msg):
    """One traversal of a square-ish region of 1/groups of the mesh: across x and y, then the
    message over the region's shorter edge."""
    x, y = c[L.C_SP_MESH_X] / math.sqrt(groups), c[L.C_SP_MESH_Y] / math.sqrt(groups)
    return (x + y) * c[L.C_SP_HOP_S] + msg / (max(1.0, min(x, y)) * c[L.C_SP_LINK_BW])


def spatial_pass(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp, ep, groups, stream_frac=0.0, attn_dp=1):
    """(seconds, parts) of one micro-batch through every layer with `groups` regions per chip."""
    eff_c = c[L.C_EFF_DECODE] if decode else c[L.C_EFF_PREFILL]
    peak, bw = c[L.C_PEAK_FLOPS] / groups, c[L.C_MEM_BW] / groups
    weights_only = op_costs(a, n_seqs, new, past, decode, wb, 0.0, 0.0, tp, attn_dp, ep)  # the weights it reads
    phase = spatial_phase(c, groups, busiest_group_seqs(n_seqs, attn_dp) * new * a[L.A_HIDDEN] * ab / tp)
    compute = fabric = 0.0
    for name, (f, b, cnt) in op_costs(a, n_seqs, new, past, decode, wb, kvb, ab, tp, attn_dp, ep).items():
        streamed = stream_frac * weights_only[name][1]
        t, _ = roofline(f, b - streamed, peak, bw, eff_c, c[L.C_EFF_MEM], c[L.C_OVERLAP_LOSS])
        t = max(t, streamed / (c[L.C_SP_STREAM_BW] * c[L.C_EFF_MEM])) if streamed > 0 else t
        compute += cnt * t
        fabric += cnt * SPATIAL_PHASES.get(name, 0) * phase
    # the same collectives as the roofline model's step
    _, table = step_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp, ep, attn_dp)
    layer_net = sum(table[k][0] * table[k][2] for k in ("tp_allreduce", "ep_alltoall") if k in table)
    stage_net = table["pp_sendrecv"][0] * table["pp_sendrecv"][2] if "pp_sendrecv" in table else 0.0
    parts = {"compute": compute, "fabric": fabric, "c2c_layer": layer_net, "c2c_stage": stage_net,
             "regions": pp * groups}
    return compute + fabric + layer_net + stage_net, parts


def spatial_group_options(a, c, pp, stream_frac=0.0):
    top = 1 if stream_frac > 0 else max(1, min(c[L.C_SP_MAX_GROUPS], math.floor(a[L.A_N_LAYERS] / pp)))
    return [2 ** k for k in range(30) if 2 ** k <= top]


def spatial_step(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp, ep, attn_dp=1):
    """The fastest layout of one micro-batch's pass, weights resident."""
    return min(spatial_pass(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp, ep, g, 0.0, attn_dp)[0]
               for g in spatial_group_options(a, c, pp))


def spatial_evaluate(a, c, tp, pp, ep, batch, inp, outp, wb, kvb, ab, reps, chunk, stream=0, attn_dp=1):
    """dict of results for one configuration on a spatial chip, from the model's definitions."""
    usable = c[L.C_MEM_BYTES] * c[L.C_USABLE_FRAC]
    weights = weights_per_chip(a, tp, pp, attn_dp, wb, ep)
    kv_seq = kv_bytes_per_seq(a, inp + outp, kvb) / (pp * min(tp, a[L.A_KV_SHARD_MAX]))
    per_tok = (4 * a[L.A_HIDDEN] + 3 * max(a[L.A_DENSE_FFN], a[L.A_TOPK] * a[L.A_EXPERT_FFN]) / tp) * ab
    max_chunk = max(1, min(inp if chunk <= 0 else min(chunk, inp), math.floor(0.10 * usable / per_tok)))
    per_seq = (kv_seq + per_tok + a[L.A_VOCAB] / tp * 4.0) / attn_dp
    frac, resident = (1.0, 0.0) if stream and c[L.C_SP_STREAM_BW] > 0 else (0.0, weights)
    free = usable - resident - max_chunk * per_tok
    max_batch = math.floor(free / per_seq) if free > 0 else 0
    b = batch if batch > 0 else max_batch
    res = {"max_batch": max_batch, "fits": 1 <= b <= max_batch}
    if not res["fits"]:
        return res
    # prefill: one prompt per attention group, in chunks of 1, 2, 4 ... tokens pipelined through the regions
    ttft, busy = math.inf, 0.0
    ch, sizes = 1, []
    while True:
        sizes.append(min(ch, inp, max_chunk))
        if sizes[-1] >= inp or sizes[-1] >= max_chunk:
            break
        ch *= 2
    for size in sizes:
        n_chunks = math.ceil(inp / size)
        for g in spatial_group_options(a, c, pp, frac):
            t, parts = spatial_pass(a, c, attn_dp, size, math.floor((inp - size) / 2), False, wb, kvb, ab, tp, pp, ep,
                                    g, frac, attn_dp)
            cand = t + (n_chunks - 1) * t / parts["regions"]
            if cand < ttft * (1 - 1e-12):
                ttft, busy = cand, n_chunks * t / parts["regions"]
    past = inp + (outp - 1) / 2
    t_dec = min(spatial_pass(a, c, b / min(b, pp * g), 1, past, True, wb, kvb, ab, tp, pp, ep, g, frac, attn_dp)[0]
                for g in spatial_group_options(a, c, pp, frac))
    tpot = t_dec + c[L.C_OVERHEAD_S]
    busy = (busy + c[L.C_PREFILL_OVERHEAD_S]) / attn_dp
    cycle = max(outp - 1, 0) * tpot + b * busy
    res.update(batch=b, ttft_s=ttft + c[L.C_PREFILL_OVERHEAD_S], tpot_s=tpot, system_tok_s=b * outp / cycle * reps,
               prefill_share=b * busy / cycle)
    return res
