"""FLOPs and bytes of each operator of one forward step, per chip.

A step processes `n_seqs` sequences of one replica (a micro-batch), each adding `new_tokens` to
`past_tokens` already in the KV cache (prefill: new_tokens = prompt chunk; decode: new_tokens = 1).
The deployment row `dep` (D_* fields) says how the replica is split: attention, dense layers,
shared experts, router, embedding and LM head run on the busiest attention group (its share of
the sequences, tensor-parallel over D_TP chips); routed experts see every token of the micro-batch,
spread over the D_TP x D_ATTN_DP chips of a stage (D_EP ranks, expert TP on the rest). Values are
for ONE instance (one layer) on one chip; `count` says how many instances the whole model runs
(layers of that kind). Pipeline stages are applied by the caller.
"""

from numba import njit

from .config import JIT, JIT_LEAF
from .expert_load import busiest_rank_load_nb, expert_slots_nb
from .layout import (
    A_ATT_DIM_DECODE, A_ATT_DIM_PREFILL, A_DENSE_FFN, A_DENSE_MLP_PARAMS, A_EXPERT_FFN, A_EXPERT_PARAMS, A_HIDDEN,
    A_KV_ELEMS, A_KV_SHARD_MAX, A_N_DENSE_LAYERS, A_N_EXPERTS, A_N_LAYERS, A_N_MOE_LAYERS, A_N_SHARED,
    A_N_WINDOW_LAYERS, A_O_IN, A_O_PARAMS, A_QKV_OUT, A_QKV_PARAMS, A_TOPK, A_TOTAL_PARAMS, A_VOCAB, A_WINDOW,
    C_VECTOR_FLOPS, D_ACT_BYTES, D_ATTN_DP, D_DEQUANT_OPS, D_EP, D_KV_BYTES, D_PP, D_TP, D_W_BYTES, OP_ATTN,
    OP_ATTN_WINDOW, OP_EMBED, OP_EXPERTS, OP_LM_HEAD, OP_MLP, OP_NORM, OP_O_PROJ, OP_QKV, OP_ROUTER, OP_SHARED_EXPERTS,
)

# elementwise work per token per layer: two fused residual-add + RMSNorm kernels, each reading
# two hidden-state tensors and writing two (8 passes); ~12 FLOP/element (square, sum, scale, add)
NORM_PASSES = 8.0
NORM_FLOPS_PER_ELEM = 12.0
LOGIT_BYTES = 4.0  # logits are written in fp32



@njit(**JIT)
def context_sum_nb(past, new, window):
    """Sum over the `new` query tokens of the positions each attends to (causal).

    Token i (1..new) sees past + i positions, capped at `window` when window > 0."""
    if window <= 0.0:
        return new * past + new * (new + 1.0) / 2.0
    if past >= window:
        return new * window
    k = min(new, window - past)  # tokens still inside the growing window
    return k * past + k * (k + 1.0) / 2.0 + (new - k) * window


@njit(**JIT)
def split_nb(dep):
    """(tp, attn_dp, ep, moe_chips, expert_tp) of a deployment row: attention TP, attention DP, expert
    parallelism, the chips a stage's routed experts are spread over (tp x attn_dp) and the chips one
    expert is split over (moe_chips / ep). Zero reads as 1."""
    tp = max(dep[D_TP], 1.0)
    attn_dp = max(dep[D_ATTN_DP], 1.0)
    ep = max(dep[D_EP], 1.0)
    moe_chips = tp * attn_dp
    return tp, attn_dp, ep, moe_chips, moe_chips / ep


@njit(**JIT)
def group_seqs_nb(n_seqs, attn_dp):
    """Sequences on the busiest of `attn_dp` attention groups: an even share of `n_seqs`, but never
    less than one whole sequence (a sequence and its KV cache live in one group)."""
    return max(n_seqs / attn_dp, min(n_seqs, 1.0))


@njit(**JIT)
def busiest_rank_pairs_nb(arch, dep, tokens):
    """(token-expert pairs the busiest EP rank computes, its expert slots that get any token) when
    `tokens` tokens are routed: each slot is picked by a token with probability k / E."""
    ep = max(dep[D_EP], 1.0)
    per_rank, load = busiest_rank_load_nb(arch, dep, tokens)
    touched = per_rank * (1.0 - (1.0 - arch[A_TOPK] / arch[A_N_EXPERTS]) ** tokens)
    return tokens * arch[A_TOPK] / ep * load, touched


@njit(**JIT)
def grouped_gemm_efficiency_nb(arch, dep, tokens, row_tile):
    """Useful share of a grouped (MoE) GEMM's rows on the busiest rank: every expert that gets any
    token computes at least `row_tile` rows (a GPU's m16 instruction), so an expert with 3 tokens
    runs at 3 / 16 of its FLOP rate. 1 when each expert gets a tile's worth or more."""
    if arch[A_N_MOE_LAYERS] <= 0.0 or tokens <= 0.0:
        return 1.0
    pairs, touched = busiest_rank_pairs_nb(arch, dep, tokens)
    return pairs / max(pairs, touched * max(row_tile, 1.0))


@njit(**JIT)
def weight_elements_nb(arch, dep, op, tokens):
    """Weight elements one chip reads for one instance of `op` when `tokens` tokens pass (what
    weight-only quantisation dequantises): the matrices of the projections, MLPs, shared experts
    and LM head split over tp, the routed experts the tokens touch. The embedding is a lookup of a
    few rows and the router is small: 0."""
    tp = max(dep[D_TP], 1.0)
    if op == OP_QKV:
        return arch[A_QKV_PARAMS] / tp
    if op == OP_O_PROJ:
        return arch[A_O_PARAMS] / tp
    if op == OP_MLP:
        return arch[A_DENSE_MLP_PARAMS] / tp
    if op == OP_SHARED_EXPERTS:
        return arch[A_N_SHARED] * arch[A_EXPERT_PARAMS] / tp
    if op == OP_LM_HEAD:
        return arch[A_HIDDEN] * arch[A_VOCAB] / tp
    if op == OP_EXPERTS:
        return routed_weight_bytes_nb(arch, dep, tokens) / dep[D_W_BYTES]
    return 0.0


@njit(**JIT)
def dequant_s_nb(arch, chip, dep, op, tokens):
    """Seconds the vector units spend dequantising the weights one instance of `op` reads (weight-only
    quantisation: D_DEQUANT_OPS operations per weight; a vector unit does C_VECTOR_FLOPS / 2 per second,
    an FMA counting 2 FLOPs). 0 when the chip computes in the weights' own dtype."""
    if dep[D_DEQUANT_OPS] <= 0.0:
        return 0.0
    return weight_elements_nb(arch, dep, op, tokens) * dep[D_DEQUANT_OPS] / (0.5 * chip[C_VECTOR_FLOPS])


@njit(**JIT)
def routed_weight_bytes_nb(arch, dep, tokens):
    """Bytes of routed-expert weights one chip reads per MoE layer when `tokens` tokens are routed:
    the busiest rank's slots that get any token (each expert is picked by a token with probability
    k / E), split over expert_tp chips."""
    if arch[A_N_MOE_LAYERS] <= 0.0:
        return 0.0
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    slots, per_rank = expert_slots_nb(arch, dep)
    touched = per_rank * (1.0 - (1.0 - arch[A_TOPK] / arch[A_N_EXPERTS]) ** tokens)
    return touched * arch[A_EXPERT_PARAMS] * dep[D_W_BYTES] / expert_tp


@njit(**JIT_LEAF)
def _attention_cost_nb(layers, window, op, n_seqs, new_tokens, past_tokens, att_dim, kv_tok_bytes, io_bytes, tp,
                       flops, nbytes, count):
    """Attention core of `layers` layers that see at most `window` positions (0: unlimited)."""
    if layers <= 0.0:
        return
    ctx = context_sum_nb(past_tokens, new_tokens, window)
    cached = past_tokens if window <= 0.0 else min(past_tokens, window)
    count[op] = layers
    flops[op] = 2.0 * att_dim * n_seqs * ctx / tp
    nbytes[op] = (n_seqs * (cached + new_tokens) * kv_tok_bytes   # read the cache and the new K/V
                  + n_seqs * new_tokens * kv_tok_bytes             # write the new tokens' K/V
                  + io_bytes)                                      # q in, attention out


@njit(**JIT_LEAF)
def op_costs_nb(arch, dep, n_seqs, new_tokens, past_tokens, is_decode, flops, nbytes, count):
    """Fill flops[op], nbytes[op] (per chip, one instance) and count[op] for every compute op of a
    micro-batch of `n_seqs` sequences of one replica split as `dep` says.

    Network ops are left at zero here (see step.py)."""
    for i in range(flops.shape[0]):
        flops[i] = 0.0
        nbytes[i] = 0.0
        count[i] = 0.0
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    w_bytes = dep[D_W_BYTES]
    kv_bytes = dep[D_KV_BYTES]
    act_bytes = dep[D_ACT_BYTES]
    d = arch[A_HIDDEN]
    seqs = group_seqs_nb(n_seqs, attn_dp)          # sequences of the busiest attention group
    n = seqs * new_tokens                          # its tokens in this step
    layers = arch[A_N_LAYERS]
    kv_shard = min(tp, arch[A_KV_SHARD_MAX])       # KV split no finer than its heads

    # embedding lookup: one row per token (vocab-sharded across tp)
    count[OP_EMBED] = 1.0
    nbytes[OP_EMBED] = n * d * w_bytes / tp + n * d * act_bytes

    # input projections (q, k, v or the MLA down/up projections)
    count[OP_QKV] = layers
    flops[OP_QKV] = 2.0 * n * arch[A_QKV_PARAMS] / tp
    nbytes[OP_QKV] = (arch[A_QKV_PARAMS] * w_bytes / tp + n * d * act_bytes
                      + n * arch[A_QKV_OUT] / tp * act_bytes)

    # attention core: scores and weighted values over the context; KV cache read and written
    att_dim = arch[A_ATT_DIM_DECODE] if is_decode else arch[A_ATT_DIM_PREFILL]
    kv_tok_bytes = arch[A_KV_ELEMS] * kv_bytes / kv_shard
    n_win = arch[A_N_WINDOW_LAYERS]
    io_bytes = n * (arch[A_QKV_OUT] + arch[A_O_IN]) / tp * act_bytes
    _attention_cost_nb(layers - n_win, 0.0, OP_ATTN, seqs, new_tokens, past_tokens, att_dim, kv_tok_bytes,
                       io_bytes, tp, flops, nbytes, count)
    _attention_cost_nb(n_win, arch[A_WINDOW], OP_ATTN_WINDOW, seqs, new_tokens, past_tokens, att_dim,
                       kv_tok_bytes, io_bytes, tp, flops, nbytes, count)

    # output projection
    count[OP_O_PROJ] = layers
    flops[OP_O_PROJ] = 2.0 * n * arch[A_O_PARAMS] / tp
    nbytes[OP_O_PROJ] = arch[A_O_PARAMS] * w_bytes / tp + n * (arch[A_O_IN] / tp + d) * act_bytes

    # dense gated MLP (follows the attention split, as engines run dense layers under attention DP)
    if arch[A_N_DENSE_LAYERS] > 0.0:
        count[OP_MLP] = arch[A_N_DENSE_LAYERS]
        flops[OP_MLP] = 2.0 * n * arch[A_DENSE_MLP_PARAMS] / tp
        nbytes[OP_MLP] = (arch[A_DENSE_MLP_PARAMS] * w_bytes / tp
                          + n * (2.0 * d + 3.0 * arch[A_DENSE_FFN] / tp) * act_bytes)

    # mixture of experts: router and shared experts follow the attention split; the routed experts
    # take every token of the micro-batch (all attention groups), each EP rank holding its expert
    # slots split over expert_tp chips; the busiest rank (expert_load.py) sets the time; the slots
    # it reads grow with the tokens (its grouped GEMM's tile efficiency: grouped_gemm_efficiency_nb)
    moe = arch[A_N_MOE_LAYERS]
    if moe > 0.0:
        e = arch[A_N_EXPERTS]
        f = arch[A_EXPERT_FFN]
        count[OP_ROUTER] = moe
        flops[OP_ROUTER] = 2.0 * n * d * e
        nbytes[OP_ROUTER] = d * e * w_bytes + n * d * act_bytes
        tokens = n_seqs * new_tokens                                  # the whole micro-batch
        pairs, _ = busiest_rank_pairs_nb(arch, dep, tokens)
        count[OP_EXPERTS] = moe
        flops[OP_EXPERTS] = 2.0 * pairs * arch[A_EXPERT_PARAMS] / expert_tp
        nbytes[OP_EXPERTS] = (routed_weight_bytes_nb(arch, dep, tokens)
                              + pairs * (2.0 * d + 3.0 * f / expert_tp) * act_bytes)
        s = arch[A_N_SHARED]
        if s > 0.0:
            count[OP_SHARED_EXPERTS] = moe
            flops[OP_SHARED_EXPERTS] = 2.0 * n * s * arch[A_EXPERT_PARAMS] / tp
            nbytes[OP_SHARED_EXPERTS] = (s * arch[A_EXPERT_PARAMS] * w_bytes / tp
                                         + n * s * (2.0 * d + 3.0 * f / tp) * act_bytes)

    # norms, residuals, activation function, rotary: elementwise on the hidden state
    count[OP_NORM] = layers
    flops[OP_NORM] = NORM_FLOPS_PER_ELEM * n * d
    nbytes[OP_NORM] = NORM_PASSES * n * d * act_bytes

    # LM head: logits for the last token of each sequence (prefill) or every new token (decode)
    n_out = seqs
    v = arch[A_VOCAB]
    count[OP_LM_HEAD] = 1.0
    flops[OP_LM_HEAD] = 2.0 * n_out * d * v / tp
    nbytes[OP_LM_HEAD] = d * v * w_bytes / tp + n_out * d * act_bytes + n_out * v / tp * LOGIT_BYTES


@njit(**JIT)
def kv_bytes_per_seq_nb(arch, context_tokens, kv_bytes):
    """KV-cache bytes one sequence of `context_tokens` holds over all layers (whole model)."""
    n_win = arch[A_N_WINDOW_LAYERS]
    full = arch[A_N_LAYERS] - n_win
    win_tokens = min(context_tokens, arch[A_WINDOW]) if n_win > 0.0 else 0.0
    return (full * context_tokens + n_win * win_tokens) * arch[A_KV_ELEMS] * kv_bytes


@njit(**JIT)
def weight_bytes_nb(arch, w_bytes):
    """Bytes of all weights of the model."""
    return arch[A_TOTAL_PARAMS] * w_bytes


@njit(**JIT)
def routed_expert_params_nb(arch):
    """Parameters of all routed experts (every MoE layer): what expert parallelism spreads."""
    return arch[A_N_MOE_LAYERS] * arch[A_N_EXPERTS] * arch[A_EXPERT_PARAMS]


@njit(**JIT)
def weight_bytes_per_chip_nb(arch, dep):
    """Weight bytes one chip holds: its EP rank's expert slots (ceil(slots / ep), redundant copies
    included) split over expert_tp chips, everything else (attention, dense and shared layers,
    router, embeddings) over its tp."""
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    slots, per_rank = expert_slots_nb(arch, dep)
    mine = arch[A_N_MOE_LAYERS] * per_rank * arch[A_EXPERT_PARAMS] / expert_tp    # the busiest rank's slots
    return ((arch[A_TOTAL_PARAMS] - routed_expert_params_nb(arch)) / tp + mine) * dep[D_W_BYTES] / max(dep[D_PP], 1.0)

