"""One continuous-batching iteration: decode tokens of running sequences and prompt chunks in the
same forward pass, sharing one read of the weights; with attention DP the busiest attention group's
chunks set its time."""

import numpy as np
from numba import njit

from .config import JIT
from .layout import (
    A_N_MOE_LAYERS, C_EFF_DECODE, C_EFF_MEM, C_EFF_PREFILL, C_GEMM_ROW_TILE, C_MEM_BW, C_OVERLAP_LOSS, C_PEAK_FLOPS, C_SPATIAL, D_SPEC_TOKENS, N_OPS, OP_EP_ALLTOALL, OP_EXPERTS,
    OP_PP_SENDRECV, OP_TP_ALLREDUCE,
)
from .operators import (
    dequant_s_nb, group_seqs_nb, grouped_gemm_efficiency_nb, op_costs_nb, routed_weight_bytes_nb, split_nb,
)
from .roofline import overlap_time_nb
from .spatial_step import spatial_step_time_nb
from .step import step_time_nb


@njit(**JIT)
def mixed_step_time_nb(arch, chip, dep, n_decode, past_decode, group_chunks, chunk_tokens, past_prefill, prompt_tokens,
                       scratch):
    """Seconds for one iteration (all stages) of a replica split as `dep` with `n_decode` sequences
    decoding at context `past_decode` and `prompt_tokens` prompt tokens over all its attention groups.
    The prompt chunks are given explicitly: the busiest attention group (which sets the iteration's
    time) takes `group_chunks` chunks (>= 1; a mean may be fractional) of `chunk_tokens` tokens each,
    each after `past_prefill` tokens of its prompt. A prompt lives in one attention group and is
    chunked by that group's token budget, so with attention DP the busiest group's chunks are not the
    iteration's prompt tokens: the other groups take other prompts (or nothing). Without attention DP,
    group_chunks x chunk_tokens = prompt_tokens.

    Per operator: FLOPs add (decode ones at the decode efficiency, prefill ones at the prefill
    efficiency); bytes add, with the weights counted once: for the routed experts, which see every
    token of every group, the slots the decode and prompt tokens touch together (a prompt chunk
    usually touches every expert, so a mixed iteration reads each expert once, not once per part), and
    the grouped GEMM pads an expert's rows to the row tile once for both parts. Collectives carry the
    tokens of the busiest group. With speculative decoding (D_SPEC_TOKENS = k) each decoding sequence
    brings k + 1 tokens (the verify pass); the drafting itself is the caller's. No per-step overhead
    (the caller adds it)."""
    if chip[C_SPATIAL] > 0.0:
        return spatial_mixed_step_time_nb(arch, chip, dep, n_decode, past_decode, group_chunks, chunk_tokens,
                                          past_prefill, prompt_tokens, scratch)
    fd, bd, cd = scratch[0], scratch[1], scratch[2]
    fp, bp, cp = scratch[3], scratch[4], scratch[5]
    f0, w0, c0 = scratch[6], scratch[7], scratch[8]
    fx, bx, cx = scratch[11], scratch[12], scratch[13]
    attn_dp = split_nb(dep)[1]
    per_seq = 1.0 + dep[D_SPEC_TOKENS]          # a speculative step verifies its drafted tokens too
    op_costs_nb(arch, dep, n_decode, per_seq, past_decode, True, fd, bd, cd)
    chunks = max(group_chunks, 1.0)
    # attn_dp x chunks sequences put `chunks` on the busiest group (operators.group_seqs_nb) ...
    op_costs_nb(arch, dep, chunks * attn_dp, chunk_tokens, past_prefill, False, fp, bp, cp)
    if arch[A_N_MOE_LAYERS] > 0.0:
        # ... but the routed experts see the prompt tokens of every group, not attn_dp x the busiest's
        op_costs_nb(arch, dep, prompt_tokens, 1.0, 0.0, False, fx, bx, cx)
        fp[OP_EXPERTS], bp[OP_EXPERTS] = fx[OP_EXPERTS], bx[OP_EXPERTS]
    op_costs_nb(arch, dep, 0.0, 0.0, 0.0, True, f0, w0, c0)  # weights only
    peak = chip[C_PEAK_FLOPS]
    bw = chip[C_MEM_BW] * chip[C_EFF_MEM]
    total = 0.0
    for op in range(N_OPS):
        count = max(cd[op], cp[op])
        if count <= 0.0:
            continue
        eff_d, eff_p = chip[C_EFF_DECODE], chip[C_EFF_PREFILL]
        shared = w0[op]                   # weights read once for both parts
        if op == OP_EXPERTS:              # routed experts: the slots either part touches, once
            decode_tokens = n_decode * per_seq
            shared = (routed_weight_bytes_nb(arch, dep, decode_tokens) + routed_weight_bytes_nb(arch, dep, prompt_tokens)
                      - routed_weight_bytes_nb(arch, dep, decode_tokens + prompt_tokens))
            # one grouped GEMM takes the decode and prompt rows together: an expert both parts touch
            # is padded to the row tile once, so the tile efficiency is that of all the tokens
            tile = grouped_gemm_efficiency_nb(arch, dep, decode_tokens + prompt_tokens, chip[C_GEMM_ROW_TILE])
            eff_d *= tile
            eff_p *= tile
        t_compute = (fd[op] / (peak * eff_d) + fp[op] / (peak * eff_p)
                     + dequant_s_nb(arch, chip, dep, op, n_decode * per_seq + prompt_tokens))   # once per weight
        t_memory = (bd[op] + bp[op] - shared) / bw
        total += count * overlap_time_nb(t_compute, t_memory, chip[C_OVERLAP_LOSS])
    # collectives move the activations of the busiest group's tokens (step_time_nb takes a replica's
    # sequences and puts 1 / attn_dp of them on that group)
    group_tokens = group_seqs_nb(n_decode, attn_dp) * per_seq + chunks * chunk_tokens
    replica_tokens = group_tokens * attn_dp if group_tokens >= 1.0 else group_tokens
    times, bounds, bound_time = scratch[9], np.zeros(N_OPS, dtype=np.int64), scratch[10]
    step_time_nb(arch, chip, dep, replica_tokens, 1.0, 0.0, True, fd, bd, cd, times, bounds, bound_time)
    network = 0.0
    for op in (OP_TP_ALLREDUCE, OP_EP_ALLTOALL, OP_PP_SENDRECV):
        network += cd[op] * times[op]
    return total + network


@njit(**JIT)
def spatial_mixed_step_time_nb(arch, chip, dep, n_decode, past_decode, group_chunks, chunk_tokens, past_prefill,
                               prompt_tokens, scratch):
    """A mixed iteration on a spatial chip: the decode pass and the prompt chunks' pass one after
    the other through the regions (each reads its own share of the resident weights). The chunks
    pass as prompt_tokens / chunk_tokens sequences (at least the busiest group's)."""
    bounds = np.zeros(N_OPS, dtype=np.int64)
    total = 0.0
    if n_decode > 0.0:
        total += spatial_step_time_nb(arch, chip, dep, n_decode, 1.0, past_decode, True, scratch[0], scratch[1],
                                      scratch[2], scratch[3], bounds, scratch[10])
    if prompt_tokens > 0.0 and chunk_tokens > 0.0:
        seqs = max(prompt_tokens / chunk_tokens, group_chunks, 1.0)
        total += spatial_step_time_nb(arch, chip, dep, seqs, chunk_tokens, past_prefill, False, scratch[0],
                                      scratch[1], scratch[2], scratch[3], bounds, scratch[10])
    return total


def new_scratch():
    return np.zeros((14, N_OPS))
