"""One continuous-batching iteration: decode tokens of running sequences and a chunk of prompt
tokens in the same forward pass, sharing one read of the weights."""

import numpy as np
from numba import njit

from .config import JIT
from .layout import (
    C_EFF_DECODE, C_EFF_MEM, C_EFF_PREFILL, C_GEMM_ROW_TILE, C_MEM_BW, C_OVERLAP_LOSS, C_PEAK_FLOPS, C_SPATIAL, D_SPEC_TOKENS, N_OPS, OP_EP_ALLTOALL, OP_EXPERTS,
    OP_PP_SENDRECV, OP_TP_ALLREDUCE,
)
from .operators import dequant_s_nb, grouped_gemm_efficiency_nb, op_costs_nb, routed_weight_bytes_nb
from .roofline import overlap_time_nb
from .spatial_step import spatial_step_time_nb
from .step import step_time_nb


@njit(**JIT)
def mixed_step_time_nb(arch, chip, dep, n_decode, past_decode, prefill_tokens, past_prefill, prefill_seqs, scratch):
    """Seconds for one iteration (all stages) of a replica split as `dep` with `n_decode` sequences
    decoding at context `past_decode` and `prefill_tokens` prompt tokens of `prefill_seqs` requests
    (>= 1; equal shares, each after `past_prefill` tokens). A request lives in one attention group:
    the busiest group takes its share of the requests, at least one.

    Per operator: FLOPs add (decode ones at the decode efficiency, prefill ones at the prefill
    efficiency); bytes add, with the weights counted once: for the routed experts, the slots the
    decode and prompt tokens touch together (a prompt chunk usually touches every expert, so a
    mixed iteration reads each expert once, not once per part), and the grouped GEMM pads an expert's rows
    to the row tile once for both parts. Collectives carry the tokens of
    both parts. With speculative decoding (D_SPEC_TOKENS = k) each decoding sequence brings k + 1
    tokens (the verify pass); the drafting itself is the caller's. No per-step overhead (the
    caller adds it)."""
    if chip[C_SPATIAL] > 0.0:
        return spatial_mixed_step_time_nb(arch, chip, dep, n_decode, past_decode, prefill_tokens, past_prefill,
                                          prefill_seqs, scratch)
    fd, bd, cd = scratch[0], scratch[1], scratch[2]
    fp, bp, cp = scratch[3], scratch[4], scratch[5]
    f0, w0, c0 = scratch[6], scratch[7], scratch[8]
    per_seq = 1.0 + dep[D_SPEC_TOKENS]          # a speculative step verifies its drafted tokens too
    op_costs_nb(arch, dep, n_decode, per_seq, past_decode, True, fd, bd, cd)
    seqs = max(prefill_seqs, 1.0)
    op_costs_nb(arch, dep, seqs, prefill_tokens / seqs, past_prefill, False, fp, bp, cp)
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
            shared = (routed_weight_bytes_nb(arch, dep, decode_tokens) + routed_weight_bytes_nb(arch, dep, prefill_tokens)
                      - routed_weight_bytes_nb(arch, dep, decode_tokens + prefill_tokens))
            # one grouped GEMM takes the decode and prompt rows together: an expert both parts touch
            # is padded to the row tile once, so the tile efficiency is that of all the tokens
            tile = grouped_gemm_efficiency_nb(arch, dep, decode_tokens + prefill_tokens, chip[C_GEMM_ROW_TILE])
            eff_d *= tile
            eff_p *= tile
        t_compute = (fd[op] / (peak * eff_d) + fp[op] / (peak * eff_p)
                     + dequant_s_nb(arch, chip, dep, op, n_decode * per_seq + prefill_tokens))   # once per weight
        t_memory = (bd[op] + bp[op] - shared) / bw
        total += count * overlap_time_nb(t_compute, t_memory, chip[C_OVERLAP_LOSS])
    # collectives move the activations of every token in the iteration
    times, bounds, bound_time = scratch[9], np.zeros(N_OPS, dtype=np.int64), scratch[10]
    step_time_nb(arch, chip, dep, n_decode * per_seq + prefill_tokens, 1.0, 0.0, True, fd, bd, cd, times, bounds,
                 bound_time)
    network = 0.0
    for op in (OP_TP_ALLREDUCE, OP_EP_ALLTOALL, OP_PP_SENDRECV):
        network += cd[op] * times[op]
    return total + network


@njit(**JIT)
def spatial_mixed_step_time_nb(arch, chip, dep, n_decode, past_decode, prefill_tokens, past_prefill, prefill_seqs,
                               scratch):
    """A mixed iteration on a spatial chip: the decode pass and the prompt chunk's pass one after
    the other through the regions (each reads its own share of the resident weights)."""
    bounds = np.zeros(N_OPS, dtype=np.int64)
    total = 0.0
    if n_decode > 0.0:
        total += spatial_step_time_nb(arch, chip, dep, n_decode, 1.0, past_decode, True, scratch[0], scratch[1],
                                      scratch[2], scratch[3], bounds, scratch[10])
    if prefill_tokens > 0.0:
        seqs = max(prefill_seqs, 1.0)
        total += spatial_step_time_nb(arch, chip, dep, seqs, prefill_tokens / seqs, past_prefill, False, scratch[0],
                                      scratch[1], scratch[2], scratch[3], bounds, scratch[10])
    return total


def new_scratch():
    return np.zeros((11, N_OPS))
