"""Spatial dataflow chips: weights held in distributed on-chip memory (or streamed through it),
activations streamed across an on-chip fabric and over chip-to-chip links, layer by layer.

A deployment of tp x pp chips: pp pipeline stages (chips or wafers holding consecutive layers),
tp chips per stage sharing each of its layers (tensor parallel over chip-to-chip links). Inside
a chip the layers of its stage are laid out on `groups` regions of its processing-element (PE)
mesh, each region holding layers / groups of them with its share of the chip's compute and
memory bandwidth; a region works on one micro-batch at a time, so pp x groups micro-batches
(tokens of different sequences) can be in flight.

One pass of a micro-batch through every layer costs
  compute  sum over operators of the roofline on its region (peak and bandwidth / groups)
  fabric   per layer, FABRIC_PHASES traversals of the region: a matrix-vector product on a PE
           mesh broadcasts its input along one axis and reduces partial sums along the other
           (WaferLLM's MeshGEMV), hops = (mesh_x + mesh_y) x sqrt(1 / groups), each hop
           fabric_hop_s, plus the message over the region's edge links
  c2c      tensor-parallel all-reduces and expert all-to-alls over the chip-to-chip links
           (tp > 1), and pp - 1 stage-to-stage sends, in the alpha-beta model of collectives.py
Weight-only quantisation adds no vector-unit dequantisation time here (kernels/step.py adds it for
GPUs and other chips): the spatial chips convert block formats in the stream between memory and the
matrix units (Groq's TruePoint block floating point), their files give no vector rate, and each
family's one fitted parameter was fitted with these rows as they are.
In weight-streaming mode (an explicit choice, spatial_streaming_evaluate_one_nb) every weight streams
from a capacity tier (Cerebras MemoryX, SambaNova DDR, d-Matrix LPDDR) at stream_bw, one region per
chip, and the fast memory holds the KV cache and activations.
"""

import numpy as np
from numba import njit

from .collectives import allreduce_time_nb, link_for_group_nb, p2p_time_nb
from .experts import expert_exchange_nb
from .config import JIT, JIT_LEAF
from .layout import (
    A_HIDDEN, A_N_DENSE_LAYERS, A_N_LAYERS, A_N_MOE_LAYERS, BOUND_MEMORY, BOUND_NETWORK, C_EFF_DECODE, C_EFF_MEM,
    C_EFF_NET, C_EFF_PREFILL, C_MEM_BW, C_OUT_BW, C_OUT_LAT_S, C_OVERHEAD_S, C_OVERLAP_LOSS, C_PEAK_FLOPS,
    C_PREFILL_OVERHEAD_S, C_SP_HOP_S, C_SP_LINK_BW, C_SP_MAX_GROUPS, C_SP_MESH_X, C_SP_MESH_Y, C_SP_STREAM_BW, C_UP_BW,
    C_UP_DOMAIN, C_UP_LAT_S, D_ACT_BYTES, D_KV_BYTES, D_PP, K_DEPLOY, K_FIELDS, K_INPUT_LEN, K_OUTPUT_LEN,
    K_PREFILL_CHUNK, N_OPS, OP_ATTN, OP_ATTN_WINDOW, OP_EMBED, OP_EP_ALLTOALL, OP_EXPERTS, OP_LM_HEAD, OP_MLP,
    OP_O_PROJ, OP_PP_SENDRECV, OP_QKV, OP_ROUTER, OP_TP_ALLREDUCE, R_DECODE_BOUND, R_PREFILL_BOUND,
)
from .operators import group_seqs_nb, op_costs_nb, split_nb
from .replica import admit_batch_nb, dominant_bound_nb, memory_per_chip_nb, write_rates_nb
from .roofline import roofline_time_nb

# Region traversals per instance of each operator: one for a matrix-vector product (input
# broadcast along one mesh axis, partial sums reduced along the other), one for attention (the
# scores and values reduced over the positions held across the region), two for a gated MLP (up
# and gate, then down), four for routed experts (dispatch to the experts' PEs, up, down, combine);
# shared experts run beside the routed ones; norms and the embedding lookup are local.
FABRIC_PHASES = np.zeros(N_OPS)
FABRIC_PHASES[OP_QKV] = 1.0
FABRIC_PHASES[OP_ATTN] = 1.0
FABRIC_PHASES[OP_ATTN_WINDOW] = 1.0
FABRIC_PHASES[OP_O_PROJ] = 1.0
FABRIC_PHASES[OP_MLP] = 2.0
FABRIC_PHASES[OP_ROUTER] = 1.0
FABRIC_PHASES[OP_EXPERTS] = 4.0
FABRIC_PHASES[OP_LM_HEAD] = 1.0

MAX_GROUP_DOUBLINGS = 20


@njit(**JIT_LEAF)
def fabric_phase_s_nb(chip, groups, msg_bytes):
    """Seconds for one traversal of a region of 1/groups of a chip's PE mesh: (x + y) sqrt(1/g)
    hops, plus `msg_bytes` over the min(x, y) sqrt(1/g) links along the region's edge."""
    side = np.sqrt(1.0 / groups)
    hops = (chip[C_SP_MESH_X] + chip[C_SP_MESH_Y]) * side
    links = max(1.0, min(chip[C_SP_MESH_X], chip[C_SP_MESH_Y]) * side)
    return hops * chip[C_SP_HOP_S] + msg_bytes / (links * chip[C_SP_LINK_BW])


@njit(**JIT_LEAF)
def spatial_pass_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, groups, stream_frac,
                    flops, nbytes, count, times, bounds, bound_time, wflops, wbytes, wcount, wdep):
    """Seconds for one micro-batch of `n_seqs` sequences of a replica split as `dep` (D_* fields),
    each adding `new_tokens` after `past_tokens`, to pass every layer once with `groups` regions
    per chip.

    stream_frac: share of each chip's weights read from the capacity tier at C_SP_STREAM_BW
    (0: all resident); wdep is `dep` with no activation or KV-cache bytes, whose operator bytes are
    the weights this micro-batch touches (its routed experts), into the scratch wflops/wbytes/wcount.
    Returns (seconds, compute, fabric, collectives inside layers, stage-to-stage sends, embedding +
    LM head compute and fabric); the pipeline holds pp x groups micro-batches. Fills
    flops/nbytes/count (per chip, one instance, as operators.op_costs_nb), times (seconds per
    instance), bounds and bound_time."""
    op_costs_nb(arch, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count)
    if stream_frac > 0.0:
        op_costs_nb(arch, wdep, n_seqs, new_tokens, past_tokens, is_decode, wflops, wbytes, wcount)
    for b in range(3):
        bound_time[b] = 0.0
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    pp = max(dep[D_PP], 1.0)
    act_bytes = dep[D_ACT_BYTES]
    eff_c = chip[C_EFF_DECODE] if is_decode else chip[C_EFF_PREFILL]
    peak = chip[C_PEAK_FLOPS] / groups
    bw = chip[C_MEM_BW] / groups
    n = group_seqs_nb(n_seqs, attn_dp) * new_tokens      # tokens of the busiest attention group
    d = arch[A_HIDDEN]
    phase = fabric_phase_s_nb(chip, groups, n * d * act_bytes / tp)
    compute = 0.0
    fabric = 0.0
    head = 0.0
    for op in range(N_OPS):
        times[op] = 0.0
        bounds[op] = 0
        if count[op] <= 0.0:
            continue
        if stream_frac > 0.0:
            streamed = stream_frac * wbytes[op]
            t, b = roofline_time_nb(flops[op], nbytes[op] - streamed, peak, bw, eff_c, chip[C_EFF_MEM],
                                    chip[C_OVERLAP_LOSS])
            t_stream = streamed / (chip[C_SP_STREAM_BW] * chip[C_EFF_MEM])
            if t_stream > t:
                t, b = t_stream, BOUND_MEMORY
        else:
            t, b = roofline_time_nb(flops[op], nbytes[op], peak, bw, eff_c, chip[C_EFF_MEM], chip[C_OVERLAP_LOSS])
        times[op] = t
        bounds[op] = b
        compute += count[op] * t
        bound_time[b] += count[op] * t
        f = count[op] * FABRIC_PHASES[op] * phase
        fabric += f
        if op == OP_EMBED or op == OP_LM_HEAD:
            head += count[op] * t + f

    # chip-to-chip, as kernels/step.py counts them: tensor-parallel all-reduces inside an attention
    # group, expert dispatch and combine between groups, stage-to-stage sends
    msg = n * d * act_bytes
    eff_n = chip[C_EFF_NET]
    domain = chip[C_UP_DOMAIN]
    layer_c2c = 0.0
    if tp > 1:
        lbw, lat = link_for_group_nb(tp, domain, chip[C_UP_BW], chip[C_UP_LAT_S], chip[C_OUT_BW], chip[C_OUT_LAT_S])
        count[OP_TP_ALLREDUCE] = arch[A_N_LAYERS] + arch[A_N_DENSE_LAYERS] + arch[A_N_MOE_LAYERS]
        nbytes[OP_TP_ALLREDUCE] = msg
        times[OP_TP_ALLREDUCE] = allreduce_time_nb(msg, tp, lbw, lat, eff_n)
        layer_c2c += count[OP_TP_ALLREDUCE] * times[OP_TP_ALLREDUCE]
    if attn_dp > 1 and arch[A_N_MOE_LAYERS] > 0.0:
        x, x_bytes = expert_exchange_nb(arch, chip, dep, n, is_decode)   # no two-batch overlap here
        count[OP_EP_ALLTOALL] = arch[A_N_MOE_LAYERS]
        nbytes[OP_EP_ALLTOALL] = x_bytes
        times[OP_EP_ALLTOALL] = x
        layer_c2c += count[OP_EP_ALLTOALL] * times[OP_EP_ALLTOALL]
    stage_c2c = 0.0
    if pp > 1:
        lbw, lat = link_for_group_nb(moe_chips * pp, domain, chip[C_UP_BW], chip[C_UP_LAT_S], chip[C_OUT_BW],
                                     chip[C_OUT_LAT_S])
        count[OP_PP_SENDRECV] = pp - 1.0
        nbytes[OP_PP_SENDRECV] = msg / tp
        times[OP_PP_SENDRECV] = p2p_time_nb(msg / tp, lbw, lat, eff_n)
        stage_c2c = count[OP_PP_SENDRECV] * times[OP_PP_SENDRECV]
    for op in (OP_TP_ALLREDUCE, OP_EP_ALLTOALL, OP_PP_SENDRECV):
        if count[op] > 0.0:
            bounds[op] = BOUND_NETWORK
    bound_time[BOUND_NETWORK] += fabric + layer_c2c + stage_c2c
    return compute + fabric + layer_c2c + stage_c2c, compute, fabric, layer_c2c, stage_c2c, head


@njit(**JIT_LEAF)
def max_groups_nb(arch, chip, dep, stream_frac):
    """Most regions per chip: the chip's limit, no more than the layers of its stage, and one
    while weights stream from the capacity tier."""
    if stream_frac > 0.0:
        return 1.0
    return max(1.0, min(chip[C_SP_MAX_GROUPS], np.floor(arch[A_N_LAYERS] / max(dep[D_PP], 1.0))))


@njit(**JIT_LEAF)
def spatial_step_time_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count, times,
                         bounds, bound_time):
    """spatial_pass_nb with the number of regions per chip (1, 2, 4, ...) that passes this
    micro-batch fastest, weights resident. The arrays are filled for that layout."""
    top = max_groups_nb(arch, chip, dep, 0.0)
    best_t = np.inf
    best_g = 1.0
    g = 1.0
    while g <= top:
        t = spatial_pass_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, g, 0.0,
                            flops, nbytes, count, times, bounds, bound_time, flops, nbytes, count, dep)[0]
        if t < best_t * (1.0 - 1e-12):
            best_t = t
            best_g = g
        g *= 2.0
    return spatial_pass_nb(arch, chip, dep, n_seqs, new_tokens, past_tokens, is_decode, best_g, 0.0,
                           flops, nbytes, count, times, bounds, bound_time, flops, nbytes, count, dep)[0]


@njit(**JIT_LEAF)
def spatial_prefill_nb(arch, chip, dep, input_len, max_chunk, stream_frac,
                       flops, nbytes, count, times, bounds, bound_time, wflops, wbytes, wcount, wdep):
    """(TTFT without the fixed overhead, pipeline time the prompts occupy, bound): one prompt per
    attention group, in chunks of 1, 2, 4 ... tokens (at most max_chunk) flowing through the
    regions; with c chunks the last leaves after one pass plus c - 1 region times. The fastest
    chunking and layout are taken."""
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    pp = max(dep[D_PP], 1.0)
    top = max_groups_nb(arch, chip, dep, stream_frac)
    best_ttft = np.inf
    best_busy = 0.0
    best_bound = 0
    chunk = 1.0
    while True:
        ch = min(chunk, input_len, max_chunk)
        c = np.ceil(input_len / ch)
        past = np.floor((input_len - ch) / 2.0)
        g = 1.0
        while g <= top:
            t = spatial_pass_nb(arch, chip, dep, attn_dp, ch, past, False, g, stream_frac,
                                flops, nbytes, count, times, bounds, bound_time, wflops, wbytes, wcount, wdep)[0]
            region = t / (pp * g)
            ttft = t + (c - 1.0) * region
            if ttft < best_ttft * (1.0 - 1e-12):
                best_ttft = ttft
                best_busy = c * region
                best_bound = dominant_bound_nb(bound_time)
            g *= 2.0
        if ch >= input_len or ch >= max_chunk:
            break
        chunk *= 2.0
    return best_ttft, best_busy, best_bound


@njit(**JIT_LEAF)
def spatial_decode_nb(arch, chip, dep, batch, past, stream_frac,
                      flops, nbytes, count, times, bounds, bound_time, wflops, wbytes, wcount, wdep):
    """(seconds per token without the fixed overhead, bound, regions per chip): `batch` sequences
    in min(batch, pp x groups) micro-batches, each returning after one pass; the layout with
    the shortest pass is taken. Leaves the arrays filled for that layout."""
    top = max_groups_nb(arch, chip, dep, stream_frac)
    pp = max(dep[D_PP], 1.0)
    best_t = np.inf
    best_g = 1.0
    g = 1.0
    while g <= top:
        micro = min(batch, pp * g)
        t = spatial_pass_nb(arch, chip, dep, batch / micro, 1.0, past, True, g, stream_frac,
                            flops, nbytes, count, times, bounds, bound_time, wflops, wbytes, wcount, wdep)[0]
        if t < best_t * (1.0 - 1e-12):
            best_t = t
            best_g = g
        g *= 2.0
    micro = min(batch, pp * best_g)
    t = spatial_pass_nb(arch, chip, dep, batch / micro, 1.0, past, True, best_g, stream_frac,
                        flops, nbytes, count, times, bounds, bound_time, wflops, wbytes, wcount, wdep)[0]
    return t, dominant_bound_nb(bound_time), best_g


@njit(**JIT_LEAF)
def spatial_prefill_phase_nb(arch, chip, cfg, flops, nbytes, count, times, bounds, bound_time):
    """step.prefill_phase_nb for a spatial chip: (ttft_s, busy_s per prompt, bound), weights resident."""
    dep = cfg[K_DEPLOY:K_FIELDS]
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    chunk = memory_per_chip_nb(arch, chip, dep, cfg[K_INPUT_LEN], cfg[K_OUTPUT_LEN], cfg[K_PREFILL_CHUNK])[4]
    t, busy, bound = spatial_prefill_nb(arch, chip, dep, cfg[K_INPUT_LEN], chunk, 0.0, flops, nbytes, count, times,
                                        bounds, bound_time, flops, nbytes, count, dep)
    return t + chip[C_PREFILL_OVERHEAD_S], (busy + chip[C_PREFILL_OVERHEAD_S]) / attn_dp, bound


@njit(**JIT_LEAF)
def spatial_decode_phase_nb(arch, chip, cfg, batch, flops, nbytes, count, times, bounds, bound_time):
    """step.decode_phase_nb for a spatial chip: (tpot_s, bound), weights resident."""
    dep = cfg[K_DEPLOY:K_FIELDS]
    past = cfg[K_INPUT_LEN] + (cfg[K_OUTPUT_LEN] - 1.0) / 2.0
    t, bound, _ = spatial_decode_nb(arch, chip, dep, batch, past, 0.0, flops, nbytes, count, times, bounds,
                                    bound_time, flops, nbytes, count, dep)
    return t + chip[C_OVERHEAD_S], bound


@njit(**JIT)
def weights_only_dep_nb(dep):
    """A copy of deployment row `dep` with no activation or KV-cache bytes: operators' bytes are then
    the weights they read."""
    w = dep.copy()
    w[D_ACT_BYTES] = 0.0
    w[D_KV_BYTES] = 0.0
    return w


@njit(**JIT_LEAF)
def stream_fraction_nb(chip, weights):
    """(share of each chip's weights streamed from the capacity tier, bytes resident) in
    weight-streaming mode: every weight streams layer by layer and the fast memory holds the
    KV cache and activations (Cerebras' MemoryX mode); (0, weights) without a capacity tier."""
    if chip[C_SP_STREAM_BW] <= 0.0 or weights <= 0.0:
        return 0.0, weights
    return 1.0, 0.0


@njit(**JIT)
def spatial_streaming_evaluate_one_nb(arch, chip, cfg, out, flops, nbytes, count, times, bounds, bound_time):
    """step.evaluate_one_nb in weight-streaming mode: every weight streams from the chip's capacity
    tier each pass (one region per chip); the fast memory holds the KV cache and activations."""
    for j in range(out.shape[0]):
        out[j] = np.nan
    dep = cfg[K_DEPLOY:K_FIELDS]
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    inp = cfg[K_INPUT_LEN]
    outp = cfg[K_OUTPUT_LEN]
    usable, weights, fixed_act, per_seq, chunk = memory_per_chip_nb(arch, chip, dep, inp, outp, cfg[K_PREFILL_CHUNK])
    frac, resident = stream_fraction_nb(chip, weights)
    free = usable - resident - fixed_act
    max_batch = np.floor(free / per_seq) if free > 0.0 else 0.0
    batch = admit_batch_nb(arch, chip, cfg, dep, out, max_batch, weights, resident + fixed_act, per_seq)
    if batch == 0.0:
        return
    wflops = np.zeros(N_OPS)
    wbytes = np.zeros(N_OPS)
    wcount = np.zeros(N_OPS)
    wdep = weights_only_dep_nb(dep)
    t_pf, busy, out[R_PREFILL_BOUND] = spatial_prefill_nb(arch, chip, dep, inp, chunk, frac, flops, nbytes, count,
                                                          times, bounds, bound_time, wflops, wbytes, wcount, wdep)
    ttft = t_pf + chip[C_PREFILL_OVERHEAD_S]
    prefill_busy = (busy + chip[C_PREFILL_OVERHEAD_S]) / attn_dp
    t_dec, out[R_DECODE_BOUND], _ = spatial_decode_nb(arch, chip, dep, batch, inp + (outp - 1.0) / 2.0, frac,
                                                      flops, nbytes, count, times, bounds, bound_time,
                                                      wflops, wbytes, wcount, wdep)
    write_rates_nb(cfg, out, batch, ttft, t_dec + chip[C_OVERHEAD_S], prefill_busy)
