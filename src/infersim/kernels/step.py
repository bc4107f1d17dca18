"""One forward step through the whole model, and the batched evaluation of configurations.

step_time_nb: latency of one micro-batch through every pipeline stage (compute ops on the
roofline, collectives in the alpha-beta model), for a replica split as its deployment row (D_*)
says. evaluate_nb: for each configuration (chip, model, deployment, batch, lengths) the capacity
check, TTFT, TPOT and throughput, built from capacity_nb, prefill_phase_nb and decode_phase_nb.
"""

import numpy as np
from numba import njit, prange

from .collectives import allreduce_time_nb, link_for_group_nb, p2p_time_nb
from .config import JIT, JIT_LEAF, JIT_PARALLEL
from .layout import (
    A_HIDDEN, A_N_DENSE_LAYERS, A_N_LAYERS, A_N_MOE_LAYERS, BOUND_NETWORK, C_EFF_DECODE, C_EFF_MEM, C_EFF_NET,
    C_EFF_PREFILL, C_GEMM_ROW_TILE, C_MEM_BW, C_OUT_BW, C_OUT_LAT_S, C_OVERHEAD_S, C_OVERLAP_LOSS, C_PEAK_FLOPS,
    C_PREFILL_OVERHEAD_S, C_SPATIAL, C_UP_BW, C_UP_DOMAIN, C_UP_LAT_S, D_ACT_BYTES, D_ATTN_DP, D_PP, D_SPEC_ACCEPT,
    D_SPEC_DRAFT_COST, D_SPEC_LAUNCHES, D_SPEC_TOKENS, D_TBO, K_CHIP, K_DEPLOY, K_FIELDS, K_INPUT_LEN, K_MODEL,
    K_OUTPUT_LEN, K_PREFILL_CHUNK, N_OPS, OP_EP_ALLTOALL, OP_EXPERTS, OP_PP_SENDRECV, OP_TP_ALLREDUCE, R_DECODE_BOUND,
    R_FIELDS, R_PREFILL_BOUND,
)
from .experts import expert_exchange_nb
from .operators import dequant_s_nb, group_seqs_nb, grouped_gemm_efficiency_nb, op_costs_nb, split_nb
from .replica import admit_batch_nb, dominant_bound_nb, memory_per_chip_nb, write_rates_nb
from .roofline import roofline_time_nb
from .spatial_step import spatial_decode_phase_nb, spatial_prefill_phase_nb, spatial_step_time_nb


@njit(**JIT_LEAF)
def compute_ops_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count, times, bounds,
                   bound_time):
    """Seconds of the compute operators of one micro-batch (roofline per op, count x time summed; the
    routed experts at their grouped GEMM's tile efficiency); fills the per-op arrays and sets
    bound_time to the sums per bound class."""
    op_costs_nb(arch, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count)
    eff_c = chip[C_EFF_DECODE] if is_decode else chip[C_EFF_PREFILL]
    for b in range(3):
        bound_time[b] = 0.0
    total = 0.0
    for op in range(N_OPS):
        times[op] = 0.0
        bounds[op] = 0
        if count[op] > 0.0:
            e_c = eff_c
            if op == OP_EXPERTS:   # experts with fewer tokens than a tile compute idle rows
                e_c *= grouped_gemm_efficiency_nb(arch, dep, n_seqs * new_tokens, chip[C_GEMM_ROW_TILE])
            # weight-only quantisation: the vector units unpack and scale each weight read, time added
            # to the matrix work (as the FLOPs the matrix units would do in that time)
            extra = dequant_s_nb(arch, chip, dep, op, n_seqs * new_tokens) * chip[C_PEAK_FLOPS] * e_c
            t, b = roofline_time_nb(flops[op] + extra, nbytes[op], chip[C_PEAK_FLOPS], chip[C_MEM_BW], e_c,
                                    chip[C_EFF_MEM], chip[C_OVERLAP_LOSS])
            times[op] = t
            bounds[op] = b
            total += count[op] * t
            bound_time[b] += count[op] * t
    return total


@njit(**JIT_LEAF)
def step_time_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count, times, bounds,
                 bound_time):
    """Seconds for one micro-batch of `n_seqs` sequences of a replica split as `dep` (D_* fields) to
    pass through all its pipeline stages.

    Fills per-op flops/bytes (per chip, one instance), count (instances in the whole model),
    times (seconds per instance) and bounds; bound_time[b] sums count*time per bound class.
    With two-batch overlap allowed (D_TBO) and an expert exchange, the engine's choice: the plain
    step, or two micro-batches (half the sequences each; in prefill half of every prompt each, as
    DeepSeek balances them), each exchanging under the other's compute, max(compute(1),
    exchange(2)) + max(compute(2), exchange(1)), whichever is faster; the exchange then shows
    only the time it adds over the full micro-batch's compute. Excludes the fixed per-step overhead.
    A spatial chip (C_SPATIAL) is timed by kernels/spatial_step.py instead."""
    if chip[C_SPATIAL] > 0.0:
        return spatial_step_time_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count,
                                    times, bounds, bound_time)
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    moe = arch[A_N_MOE_LAYERS]
    exchange = attn_dp > 1.0 and moe > 0.0
    overlapped = -1.0
    if exchange and dep[D_TBO] > 0.0 and (n_seqs >= 2.0 or new_tokens >= 2.0):
        # two micro-batches: half the sequences each, or (prefill) half of every prompt each, the
        # second half attending to the first; one's exchange runs under the other's compute
        if new_tokens >= 2.0:
            seqs1 = seqs2 = n_seqs
            new1 = np.floor(0.5 * new_tokens)
            new2 = new_tokens - new1
            past2 = past_tokens + new1
        else:
            seqs1 = seqs2 = 0.5 * n_seqs
            new1 = new2 = new_tokens
            past2 = past_tokens
        c1 = compute_ops_nb(arch, chip, dep, seqs1, new1, past_tokens, is_decode, flops, nbytes, count, times, bounds,
                            bound_time)
        c2 = compute_ops_nb(arch, chip, dep, seqs2, new2, past2, is_decode, flops, nbytes, count, times, bounds,
                            bound_time)
        x1, _ = expert_exchange_nb(arch, chip, dep, group_seqs_nb(seqs1, attn_dp) * new1, is_decode)
        x2, _ = expert_exchange_nb(arch, chip, dep, group_seqs_nb(seqs2, attn_dp) * new2, is_decode)
        overlapped = max(c1, moe * x2) + max(c2, moe * x1)
    compute = compute_ops_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count, times,
                             bounds, bound_time)
    total = compute

    # collectives: tensor-parallel all-reduce inside an attention group, expert dispatch and combine
    # between attention groups, pipeline send/recv
    pp = max(dep[D_PP], 1.0)
    n = group_seqs_nb(n_seqs, attn_dp) * new_tokens          # tokens of the busiest attention group
    msg = n * arch[A_HIDDEN] * dep[D_ACT_BYTES]
    eff_n = chip[C_EFF_NET]
    domain = chip[C_UP_DOMAIN]
    if tp > 1:
        # attention, dense MLPs and MoE layers each end in a sum over the group's tp chips
        bw, lat = link_for_group_nb(tp, domain, chip[C_UP_BW], chip[C_UP_LAT_S], chip[C_OUT_BW], chip[C_OUT_LAT_S])
        count[OP_TP_ALLREDUCE] = arch[A_N_LAYERS] + arch[A_N_DENSE_LAYERS] + moe
        nbytes[OP_TP_ALLREDUCE] = msg
        times[OP_TP_ALLREDUCE] = allreduce_time_nb(msg, tp, bw, lat, eff_n)
    if exchange:
        x, x_bytes = expert_exchange_nb(arch, chip, dep, n, is_decode)
        exposed = moe * x
        if 0.0 <= overlapped < compute + exposed:
            exposed = overlapped - compute                     # >= 0: two halves read the weights twice
        count[OP_EP_ALLTOALL] = moe
        nbytes[OP_EP_ALLTOALL] = x_bytes
        times[OP_EP_ALLTOALL] = exposed / moe
    if pp > 1:
        bw, lat = link_for_group_nb(moe_chips * pp, domain, chip[C_UP_BW], chip[C_UP_LAT_S], chip[C_OUT_BW],
                                    chip[C_OUT_LAT_S])
        count[OP_PP_SENDRECV] = pp - 1.0
        nbytes[OP_PP_SENDRECV] = msg / tp                       # each TP rank sends its slice
        times[OP_PP_SENDRECV] = p2p_time_nb(msg / tp, bw, lat, eff_n)
    for op in (OP_TP_ALLREDUCE, OP_EP_ALLTOALL, OP_PP_SENDRECV):
        if count[op] > 0.0:
            bounds[op] = BOUND_NETWORK
            total += count[op] * times[op]
            bound_time[BOUND_NETWORK] += count[op] * times[op]
    return total


@njit(**JIT_LEAF)
def capacity_nb(arch, chip, cfg):
    """(max_batch, weights, fixed activations, bytes per sequence) per chip for the deployment,
    lengths and prefill chunk of configuration row `cfg` (K_* fields; its batch is not read)."""
    usable, weights, fixed_act, per_seq, _ = memory_per_chip_nb(arch, chip, cfg[K_DEPLOY:K_FIELDS], cfg[K_INPUT_LEN],
                                                                cfg[K_OUTPUT_LEN], cfg[K_PREFILL_CHUNK])
    free = usable - weights - fixed_act
    max_batch = np.floor(free / per_seq) if free > 0.0 else 0.0
    return max_batch, weights, fixed_act, per_seq


@njit(**JIT_LEAF)
def prefill_pass_nb(arch, chip, dep, prompts, input_len, budget, flops, nbytes, count, times, bounds, bound_time):
    """(seconds through all stages, of which stage-to-stage sends) to prefill `prompts` prompts of
    `input_len` tokens in every attention group together, in chunks of at most `budget` tokens per
    group (0: no limit); a prompt longer than the budget goes in budget-sized chunks (the last one
    shorter), each attending to the ones before it."""
    attn_dp = max(dep[D_ATTN_DP], 1.0)
    if budget <= 0.0 or prompts * input_len <= budget:
        t = step_time_nb(arch, chip, dep, prompts * attn_dp, input_len, 0.0, False, flops, nbytes, count, times,
                         bounds, bound_time)
        return t, count[OP_PP_SENDRECV] * times[OP_PP_SENDRECV]
    total = 0.0
    hops = 0.0
    done = 0.0
    while done < input_len:
        new = min(budget, input_len - done)
        total += step_time_nb(arch, chip, dep, attn_dp, new, done, False, flops, nbytes, count, times, bounds,
                              bound_time)
        hops += count[OP_PP_SENDRECV] * times[OP_PP_SENDRECV]
        done += new
    return total, hops


@njit(**JIT_LEAF)
def prefill_phase_nb(arch, chip, cfg, flops, nbytes, count, times, bounds, bound_time):
    """(ttft_s, busy_s, bound). TTFT without queueing: one prompt of cfg[K_INPUT_LEN] tokens in each
    attention group (chunked by the token budget cfg[K_PREFILL_CHUNK] when longer). Busy: the time
    per prompt the replica is kept busy when it prefills as engines do, prompts batched up to the
    token budget per attention group (pipeline stages and attention groups work on different
    prompts). The bound is the TTFT pass's. Spatial chips: kernels/spatial_step.py."""
    if chip[C_SPATIAL] > 0.0:
        return spatial_prefill_phase_nb(arch, chip, cfg, flops, nbytes, count, times, bounds, bound_time)
    dep = cfg[K_DEPLOY:K_FIELDS]
    attn_dp = max(dep[D_ATTN_DP], 1.0)
    pp = max(dep[D_PP], 1.0)
    inp = cfg[K_INPUT_LEN]
    budget = cfg[K_PREFILL_CHUNK]
    prompts = max(1.0, np.floor(budget / inp)) if budget > 0.0 else 1.0
    if prompts > 1.0:
        t_batch, hops_batch = prefill_pass_nb(arch, chip, dep, prompts, inp, budget, flops, nbytes, count, times,
                                              bounds, bound_time)
    t_pf, hops = prefill_pass_nb(arch, chip, dep, 1.0, inp, budget, flops, nbytes, count, times, bounds, bound_time)
    if prompts <= 1.0:
        t_batch, hops_batch = t_pf, hops
    ttft = t_pf + chip[C_PREFILL_OVERHEAD_S]
    busy = ((t_batch - hops_batch) / pp + chip[C_PREFILL_OVERHEAD_S]) / (attn_dp * prompts)
    return ttft, busy, dominant_bound_nb(bound_time)


@njit(**JIT_LEAF)
def decode_context_nb(input_len, output_len):
    """Average tokens already in the KV cache over a request's decode steps (from input_len to
    input_len + output_len - 1)."""
    return input_len + (output_len - 1.0) / 2.0


@njit(**JIT_LEAF)
def decode_phase_nb(arch, chip, cfg, batch, flops, nbytes, count, times, bounds, bound_time):
    """(tpot_s, bound) of one decode step of `batch` sequences per replica: micro-batches cycle through
    the stages, at the average context. Depends on the lengths only through decode_context_nb (the
    sweep shares one decode step among lengths with the same average context). Spatial chips:
    kernels/spatial_step.py (micro-batches fill its regions, not only its stages)."""
    if chip[C_SPATIAL] > 0.0:
        return spatial_decode_phase_nb(arch, chip, cfg, batch, flops, nbytes, count, times, bounds, bound_time)
    dep = cfg[K_DEPLOY:K_FIELDS]
    micro = min(batch, max(dep[D_PP], 1.0))
    past_avg = decode_context_nb(cfg[K_INPUT_LEN], cfg[K_OUTPUT_LEN])
    t_dec = step_time_nb(arch, chip, dep, batch / micro, 1.0, past_avg, True, flops, nbytes, count, times, bounds,
                         bound_time)
    if dep[D_SPEC_TOKENS] <= 0.0:
        return t_dec + chip[C_OVERHEAD_S], dominant_bound_nb(bound_time)
    return speculative_tpot_nb(arch, chip, dep, batch / micro, past_avg, t_dec, flops, nbytes, count, times, bounds,
                               bound_time), dominant_bound_nb(bound_time)


@njit(**JIT_LEAF)
def speculative_tpot_nb(arch, chip, dep, seqs, past, t_one, flops, nbytes, count, times, bounds, bound_time):
    """Seconds per output token of speculative decoding (D_SPEC_*): k drafted tokens, each costing
    D_SPEC_DRAFT_COST of the one-token decode step `t_one`, then one target pass over k + 1 tokens
    per sequence; (1 - a^(k+1)) / (1 - a) tokens per step. Leaves the verify pass in the arrays."""
    k = dep[D_SPEC_TOKENS]
    a = dep[D_SPEC_ACCEPT]
    verify = step_time_nb(arch, chip, dep, seqs, k + 1.0, past, True, flops, nbytes, count, times, bounds, bound_time)
    step = verify + k * dep[D_SPEC_DRAFT_COST] * t_one + (1.0 + dep[D_SPEC_LAUNCHES]) * chip[C_OVERHEAD_S]
    return step * (1.0 - a) / (1.0 - a ** (k + 1.0))


@njit(**JIT_LEAF)
def evaluate_one_nb(arch, chip, cfg, out, flops, nbytes, count, times, bounds, bound_time):
    """Evaluate one configuration row `cfg` into `out` (R_* fields)."""
    for j in range(out.shape[0]):
        out[j] = np.nan
    max_batch, weights, fixed_act, per_seq = capacity_nb(arch, chip, cfg)
    batch = admit_batch_nb(arch, chip, cfg, cfg[K_DEPLOY:K_FIELDS], out, max_batch, weights, weights + fixed_act, per_seq)
    if batch == 0.0:
        return
    ttft, prefill_busy, out[R_PREFILL_BOUND] = prefill_phase_nb(arch, chip, cfg, flops, nbytes, count, times, bounds,
                                                                bound_time)
    tpot, out[R_DECODE_BOUND] = decode_phase_nb(arch, chip, cfg, batch, flops, nbytes, count, times, bounds,
                                                bound_time)
    write_rates_nb(cfg, out, batch, ttft, tpot, prefill_busy)


@njit(**JIT)
def new_scratch_nb():
    """Per-operator scratch arrays for step_time_nb: flops, nbytes, count, times, bounds, bound_time."""
    return (np.zeros(N_OPS), np.zeros(N_OPS), np.zeros(N_OPS), np.zeros(N_OPS), np.zeros(N_OPS, dtype=np.int64),
            np.zeros(3))


@njit(**JIT)
def evaluate_rows_nb(archs, chips, cfgs, out):
    """Evaluate every row of cfgs (K_* fields) into out (R_* fields), serially: no parallel region, so
    one configuration or a mapping search's few hundred cost microseconds whatever the other cores do."""
    flops, nbytes, count, times, bounds, bound_time = new_scratch_nb()
    for i in range(cfgs.shape[0]):
        cfg = cfgs[i]
        evaluate_one_nb(archs[int(cfg[K_MODEL])], chips[int(cfg[K_CHIP])], cfg, out[i],
                        flops, nbytes, count, times, bounds, bound_time)


@njit(**JIT_PARALLEL)
def evaluate_nb(archs, chips, cfgs, out):
    """Evaluate every row of cfgs (K_* fields) into out (R_* fields); parallel over rows (large batches)."""
    n = cfgs.shape[0]
    n_chunks = min(n, 64)
    for c in prange(n_chunks):
        flops, nbytes, count, times, bounds, bound_time = new_scratch_nb()
        start = c * n // n_chunks
        stop = (c + 1) * n // n_chunks
        for i in range(start, stop):
            cfg = cfgs[i]
            evaluate_one_nb(archs[int(cfg[K_MODEL])], chips[int(cfg[K_CHIP])], cfg, out[i],
                            flops, nbytes, count, times, bounds, bound_time)


def new_result_matrix(n_configs):
    return np.full((n_configs, R_FIELDS), np.nan)
