"""The only place that turns spec objects into the flat float64 rows the kernels read, and a cache of
packed rows for the single-configuration path (packing a chip reads ~20 fields through pydantic)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..kernels import layout as L
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture


def pack_architecture(a: Architecture) -> np.ndarray:
    """One A_* row for an architecture (element counts, not bytes)."""
    row = np.zeros(L.A_FIELDS)
    d, h = a.hidden, a.n_heads
    row[L.A_N_LAYERS] = a.n_layers
    row[L.A_HIDDEN] = d
    row[L.A_N_HEADS] = h
    o_params = h * a.attn_v_head_dim * d
    if a.attention == "mla":
        row[L.A_KV_SHARD_MAX] = 1  # one latent vector per token, shared by all heads
        row[L.A_QKV_PARAMS] = a.attention_params_per_layer() - o_params
        row[L.A_QKV_OUT] = h * a.qk_head_dim + a.kv_lora_rank + a.qk_rope_head_dim
        row[L.A_KV_ELEMS] = a.kv_lora_rank + a.qk_rope_head_dim
        row[L.A_ATT_DIM_PREFILL] = h * (a.qk_head_dim + a.v_head_dim)
        # decode with absorbed up-projections: scores over (kv_lora + rope), values over kv_lora
        row[L.A_ATT_DIM_DECODE] = h * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
    else:
        row[L.A_KV_SHARD_MAX] = a.n_kv_heads
        row[L.A_QKV_PARAMS] = a.attention_params_per_layer() - o_params
        row[L.A_QKV_OUT] = (h + 2 * a.n_kv_heads) * a.head_dim
        row[L.A_KV_ELEMS] = 2 * a.n_kv_heads * a.head_dim
        row[L.A_ATT_DIM_PREFILL] = h * 2 * a.head_dim
        row[L.A_ATT_DIM_DECODE] = h * 2 * a.head_dim
    row[L.A_O_PARAMS] = o_params
    row[L.A_O_IN] = h * a.attn_v_head_dim
    row[L.A_N_WINDOW_LAYERS] = a.n_window_layers
    row[L.A_WINDOW] = a.window_tokens
    row[L.A_N_DENSE_LAYERS] = a.n_dense_layers
    row[L.A_DENSE_MLP_PARAMS] = a.dense_mlp_params()
    row[L.A_DENSE_FFN] = a.dense_ffn if a.n_dense_layers else 0
    row[L.A_N_MOE_LAYERS] = a.n_moe_layers
    row[L.A_N_EXPERTS] = a.n_experts
    row[L.A_TOPK] = a.experts_per_token
    row[L.A_N_SHARED] = a.n_shared_experts
    row[L.A_EXPERT_PARAMS] = a.expert_params() if a.is_moe else 0
    row[L.A_EXPERT_FFN] = a.expert_ffn
    row[L.A_VOCAB] = a.vocab
    row[L.A_TOTAL_PARAMS] = a.total_params()
    return row


# Derived: the H100 SXM's CUDA-core FP32 rate over its dense BF16 tensor rate, 66.9 / 989.4 = 0.0676
# (nvidia-h100-sxm.toml): the share of a chip's matrix BF16 rate its vector units are taken to have
# when its file gives neither vector_flops_per_s nor an FP32 rate.
VECTOR_SHARE_OF_BF16 = 66.9e12 / 989.4e12


def vector_flops(chip: ChipSpec) -> tuple[float, str]:
    """(FP32 FLOP/s of the chip's vector units, where the figure comes from): the file's
    compute.vector_flops_per_s; else its dense FP32 rate (on GPUs and CPUs the CUDA-core / SIMD rate;
    on other chips their FP32 figure, an estimate of the vector path); else its BF16 matrix rate x
    VECTOR_SHARE_OF_BF16 (derived from the H100, labelled an estimate)."""
    c = chip.compute
    if c.vector_flops_per_s is not None:
        return c.vector_flops_per_s, "compute.vector_flops_per_s"
    dense = c.dense_flops_per_s.available()
    if "fp32" in dense:
        return dense["fp32"], "derived: the chip's dense FP32 rate"
    matrix = dense.get("bf16") or dense.get("fp16") or max(dense.values())
    return matrix * VECTOR_SHARE_OF_BF16, "estimate: BF16 matrix rate x the H100's vector share (0.068)"


# Assumption: a GPU's tensor cores compute at least 16 rows (tokens) per instruction: NVIDIA's mma
# m16 shape and AMD's 16x16 MFMA, the smallest block M of fused-MoE kernels (vLLM's tuned fused_moe
# configs use BLOCK_SIZE_M 16 for small batches). Systolic arrays (TPU, Trainium), dataflow chips and
# CPUs stream rows one at a time: 1. It sets the rows a grouped (MoE) GEMM computes per expert.
GPU_GEMM_ROW_TILE = 16.0


def pack_chip(chip: ChipSpec, compute_dtype: str) -> np.ndarray:
    """One C_* row for a chip computing in `compute_dtype` (the caller checked it exists)."""
    row = np.zeros(L.C_FIELDS)
    main = chip.memory.main
    eff = chip.efficiency
    net = chip.interconnect
    row[L.C_PEAK_FLOPS] = chip.compute.dense_flops_per_s.available()[compute_dtype]
    row[L.C_MEM_BW] = main.bandwidth_bytes_per_s
    row[L.C_MEM_BYTES] = main.capacity_bytes
    # FP4 GEMMs can run further from their (doubled) peak than wider ones: a fitted scale, when the chip has one
    fp4_scale = eff.fp4_compute_scale if (compute_dtype == "fp4" and eff.fp4_compute_scale is not None) else 1.0
    row[L.C_EFF_PREFILL] = eff.prefill_compute * fp4_scale
    row[L.C_EFF_DECODE] = eff.decode_compute * fp4_scale
    row[L.C_EFF_MEM] = eff.memory_bandwidth
    row[L.C_EFF_NET] = eff.interconnect
    row[L.C_OVERHEAD_S] = eff.step_overhead_s
    row[L.C_USABLE_FRAC] = eff.usable_memory_fraction
    # a chip with no scale-up fabric talks to its neighbours over the NIC
    up_bw = net.scaleup_bw_bytes_per_s_per_direction or net.scaleout_bw_bytes_per_s_per_direction
    row[L.C_UP_BW] = up_bw
    row[L.C_UP_DOMAIN] = net.scaleup_domain_chips
    row[L.C_UP_LAT_S] = net.scaleup_latency_s
    row[L.C_OUT_BW] = net.scaleout_bw_bytes_per_s_per_direction or up_bw
    row[L.C_OUT_LAT_S] = net.scaleout_latency_s
    row[L.C_TDP_W] = chip.power.tdp_w
    row[L.C_PREFILL_OVERHEAD_S] = eff.prefill_overhead_s
    row[L.C_OVERLAP_LOSS] = eff.overlap_loss
    sp = chip.spatial
    if sp is not None:
        row[L.C_SPATIAL] = 1.0
        row[L.C_SP_MESH_X] = sp.mesh_x_pes
        row[L.C_SP_MESH_Y] = sp.mesh_y_pes
        row[L.C_SP_HOP_S] = sp.fabric_hop_s
        row[L.C_SP_LINK_BW] = sp.fabric_link_bw_bytes_per_s
        row[L.C_SP_MAX_GROUPS] = sp.max_regions_per_chip
        row[L.C_SP_STREAM_BW] = chip.memory.host.bandwidth_bytes_per_s if sp.weight_streaming else 0.0
    row[L.C_UP_TORUS_DIMS] = net.scaleup_torus_dimensions
    row[L.C_GEMM_ROW_TILE] = GPU_GEMM_ROW_TILE if chip.kind == "gpu" else 1.0
    row[L.C_VECTOR_FLOPS] = vector_flops(chip)[0]
    return row


PACKED_CACHE_SIZE = 512
_packed: OrderedDict[tuple, tuple[object, np.ndarray]] = OrderedDict()


def _cached(key: tuple, spec: object, make) -> np.ndarray:
    hit = _packed.get(key)
    if hit is not None and hit[0] is spec:
        _packed.move_to_end(key)
        return hit[1]
    row = make()[None, :]
    _packed[key] = (spec, row)      # the entry holds the spec, so its id cannot be reused while cached
    if len(_packed) > PACKED_CACHE_SIZE:
        _packed.popitem(last=False)
    return row


def packed_architecture(a: Architecture) -> np.ndarray:
    """pack_architecture(a) as a 1 x A_FIELDS matrix, packed once per architecture object. Shared: do not
    modify it (copy first)."""
    return _cached((id(a), None), a, lambda: pack_architecture(a))


def packed_chip(chip: ChipSpec, compute_dtype: str) -> np.ndarray:
    """pack_chip(chip, compute_dtype) as a 1 x C_FIELDS matrix, packed once per chip object and dtype.
    Shared: do not modify it (copy first)."""
    return _cached((id(chip), compute_dtype), chip, lambda: pack_chip(chip, compute_dtype))
