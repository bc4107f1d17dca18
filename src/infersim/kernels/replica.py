"""One replica's memory and the result fields of one configuration, shared by the step kernels of
every chip kind (step.py for matrix-unit chips, spatial_step.py for spatial dataflow chips).

memory_per_chip_nb: what one chip of a replica holds (bytes); admit_batch_nb: the capacity fields
and the batch a configuration runs; write_rates_nb: TTFT, TPOT and throughput fields from one
replica's phase times; dominant_bound_nb: the bound class that took the most time.
"""

import numpy as np
from numba import njit

from .config import JIT_LEAF
from .layout import (
    A_DENSE_FFN, A_EXPERT_FFN, A_HIDDEN, A_KV_SHARD_MAX, A_TOPK, A_VOCAB, C_MEM_BYTES, C_USABLE_FRAC, D_ACT_BYTES,
    D_KV_BYTES, D_PP, D_SPEC_WEIGHTS, K_BATCH, K_INPUT_LEN, K_OUTPUT_LEN, K_REPLICAS, R_BATCH, R_CHIPS, R_FITS, R_KV_BYTES_CHIP,
    R_MAX_BATCH, R_MEM_USED_FRAC, R_PREFILL_SHARE, R_REPLICA_TOK_S, R_SYSTEM_TOK_S, R_TPOT_S, R_TTFT_S,
    R_USER_TOK_S, R_WEIGHT_BYTES_CHIP,
)
from .operators import kv_bytes_per_seq_nb, split_nb, weight_bytes_per_chip_nb

ACT_TENSORS_PER_TOKEN = 4.0  # hidden-state buffers alive at once (residual, normed, attention out, MLP out)
# A runtime shrinks its prefill chunk on a small-memory chip (an SRAM LPU holds ~0.2 GB) rather than
# give up weight space: activations of one chunk take at most this share of usable memory.
# Assumption; on HBM GPUs the cap is tens of thousands of tokens and never binds.
ACT_MEMORY_SHARE_MAX = 0.10


@njit(**JIT_LEAF)
def dominant_bound_nb(bound_time):
    """The bound class (BOUND_*) with the most seconds in bound_time."""
    best = 0
    for b in range(1, 3):
        if bound_time[b] > bound_time[best]:
            best = b
    return best


@njit(**JIT_LEAF)
def memory_per_chip_nb(arch, chip, dep, input_len, output_len, prefill_chunk):
    """(usable, weights, fixed activations, bytes per extra sequence, prefill chunk tokens) per chip
    of a replica; bytes, except the chunk.

    Weights include a draft model's (D_SPEC_WEIGHTS). A replica's sequences are spread over its
    attn_dp attention groups, so one more sequence adds 1 / attn_dp of a group's per-sequence
    bytes to each chip (on average). The chunk is the prompt (or prefill_chunk when > 0), capped so
    that its activations take at most ACT_MEMORY_SHARE_MAX of usable memory."""
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    pp = max(dep[D_PP], 1.0)
    act_bytes = dep[D_ACT_BYTES]
    usable = chip[C_MEM_BYTES] * chip[C_USABLE_FRAC]
    weights = weight_bytes_per_chip_nb(arch, dep) * (1.0 + dep[D_SPEC_WEIGHTS])
    kv_shard = min(tp, arch[A_KV_SHARD_MAX])
    kv_seq = kv_bytes_per_seq_nb(arch, input_len + output_len, dep[D_KV_BYTES]) / (pp * kv_shard)
    ffn = max(arch[A_DENSE_FFN], arch[A_TOPK] * arch[A_EXPERT_FFN])
    per_token_act = (ACT_TENSORS_PER_TOKEN * arch[A_HIDDEN] + 3.0 * ffn / tp) * act_bytes
    chunk = input_len if prefill_chunk <= 0.0 else min(prefill_chunk, input_len)
    chunk = max(1.0, min(chunk, np.floor(ACT_MEMORY_SHARE_MAX * usable / per_token_act)))
    per_seq = (kv_seq + per_token_act + arch[A_VOCAB] / tp * 4.0) / attn_dp   # KV + decode activations + fp32 logits
    return usable, weights, chunk * per_token_act, per_seq, chunk


@njit(**JIT_LEAF)
def admit_batch_nb(arch, chip, cfg, dep, out, max_batch, weights, held_bytes, per_seq):
    """Write the capacity fields of configuration row `cfg` into `out` and return the batch it runs
    (its own, or max_batch when it gives none); 0.0 when that batch does not fit. held_bytes: what
    each chip holds besides the sequences (resident weights and fixed activations)."""
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    pp = max(dep[D_PP], 1.0)
    out[R_MAX_BATCH] = max_batch
    out[R_WEIGHT_BYTES_CHIP] = weights
    out[R_CHIPS] = moe_chips * pp * cfg[K_REPLICAS]
    batch = cfg[K_BATCH] if cfg[K_BATCH] > 0.0 else max_batch
    if batch < 1.0 or batch > max_batch:
        out[R_FITS] = 0.0
        return 0.0
    out[R_FITS] = 1.0
    out[R_BATCH] = batch
    kv_shard = min(tp, arch[A_KV_SHARD_MAX])
    seq_len = cfg[K_INPUT_LEN] + cfg[K_OUTPUT_LEN]
    out[R_KV_BYTES_CHIP] = batch * kv_bytes_per_seq_nb(arch, seq_len, dep[D_KV_BYTES]) / (pp * kv_shard * attn_dp)
    out[R_MEM_USED_FRAC] = (held_bytes + batch * per_seq) / chip[C_MEM_BYTES]
    return batch


@njit(**JIT_LEAF)
def replica_cycle_s_nb(batch, output_len, tpot, prefill_busy):
    """Seconds of one replica's cycle serving `batch` sequences: output_len - 1 decode steps and the
    prefills of the batch's prompts. The replica makes batch x output_len tokens per cycle."""
    return max(output_len - 1.0, 0.0) * tpot + batch * prefill_busy


@njit(**JIT_LEAF)
def write_rates_nb(cfg, out, batch, ttft, tpot, prefill_busy):
    """TTFT, TPOT, per-user and system token rates of a replica serving `batch` sequences into `out`;
    prefill_busy: seconds per prompt the replica cannot decode."""
    outp = cfg[K_OUTPUT_LEN]
    out[R_TTFT_S] = ttft
    out[R_TPOT_S] = tpot
    out[R_USER_TOK_S] = 1.0 / tpot
    cycle = replica_cycle_s_nb(batch, outp, tpot, prefill_busy)
    replica = batch * outp / cycle
    out[R_PREFILL_SHARE] = batch * prefill_busy / cycle
    out[R_REPLICA_TOK_S] = replica
    out[R_SYSTEM_TOK_S] = replica * cfg[K_REPLICAS]
