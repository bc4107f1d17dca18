"""Figures checked by hand: the arithmetic is in the comments."""

import numpy as np
import pytest

from infersim.kernels import layout as L
from infersim.kernels.collectives import allreduce_time_nb, ring_allreduce_time_nb, tree_allreduce_time_nb
from infersim.kernels.operators import op_costs_nb
from infersim.kernels.roofline import roofline_time_nb
from infersim.model.configuration import Mapping, Workload, resolve_precision
from infersim.model.evaluate import evaluate, operator_table
from infersim.model.mapping_search import min_chips_to_fit, search
from infersim.model.packing import pack_architecture
from infersim.specs.model_arch import HFConfig, normalise

GEMM_OPS = {"qkv_proj", "attention", "attention_window", "o_proj", "mlp", "moe_experts", "moe_shared_experts"}


def test_llama70b_fp8_batch1_decode_on_h200_is_bytes_over_bandwidth(lib):
    # Llama-3.1-70B: 70,553,706,496 parameters x 1 B (fp8); a decode step reads all of them except the
    # embedding table (a lookup reads one row): 128,256 x 8,192 = 1,050,673,152 -> 69.503 GB of weights.
    # KV per token: 80 layers x 2 (K,V) x 8 KV heads x 128 dims x 1 B (fp8) = 163,840 B.
    # 1024 prompt + 256 output tokens: the average decode step sees 1024 + 255/2 = 1151.5 past
    # tokens and reads 1152.5 x 163,840 B = 0.1888 GB of KV.
    # H200: 4.8e12 B/s x the memory efficiency in its spec file (0.774 as calibrated on 2026-11-22)
    # = 3.715e12 B/s -> (69.503 + 0.189) GB / 3.715e12 B/s = 18.76 ms of device time per decode step;
    # the calibrated overlap loss adds 0.79 x the compute time (2 x 70e9 FLOP / (1.979e15 x 0.564)
    # = 0.13 ms) -> +0.5 %, inside the 5 % below.
    # TPOT adds the fixed per-step overhead of the spec file (scheduler, sampling), compared separately.
    chip = lib.chip("nvidia-h200-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    r = evaluate(chip, arch, p, Mapping(), Workload(1024, 256), batch=1)
    weight_bytes = (70_553_706_496 - 128_256 * 8_192) * 1.0
    kv_bytes = (1024 + 255 / 2 + 1) * 80 * 2 * 8 * 128 * 1.0
    expected_s = (weight_bytes + kv_bytes) / (chip.memory.offchip.bandwidth_bytes_per_s * chip.efficiency.memory_bandwidth)
    assert weight_bytes + kv_bytes == pytest.approx(69.692e9, rel=1e-4)  # the bytes of the comment
    device_s = r.tpot_s - chip.efficiency.step_overhead_s
    assert device_s == pytest.approx(expected_s, rel=0.05)
    assert device_s >= expected_s  # the bytes term is a floor: other work only adds
    assert r.decode_bound == "memory"


# Rubin CPX is a prefill chip for very long contexts: its (estimated) 3.75 PFLOP/s bf16 over ~2 TB/s
# GDDR7 puts its achievable ridge at 3.75e15 x eff_c / (2e12 x eff_m) = 1,570-1,640 FLOP/B (calibrated vs
# default efficiencies), right at the ~1,400 FLOP/B of a 2,048-token GEMM. It has its own test below.
LONG_CONTEXT_PREFILL_CHIPS = {"nvidia-rubin-cpx"}


def _accelerators(lib):
    return [c for c in lib.ids("chip") if (lib.chip(c).kind == "gpu" or c.startswith("google-tpu"))
            and c not in LONG_CONTEXT_PREFILL_CHIPS]


def test_decode_memory_bound_and_prefill_compute_bound_on_every_gpu_and_tpu(lib):
    arch = lib.architecture("llama-3.1-70b")
    workload = Workload(2048, 128)
    chips = _accelerators(lib)
    assert len(chips) >= 5
    for chip_id in chips:
        chip = lib.chip(chip_id)
        p = resolve_precision(chip, "bf16", "bf16")
        # on the fewest chips that hold the model: spread over TP32+ the per-layer all-reduce would
        # dominate instead, which is a property of the mapping, not of the chip
        need, _ = min_chips_to_fit(chip, arch, p, workload)
        best = search(chip, arch, p, workload, num_chips=need, batch=1, objective="latency").best
        decode = operator_table(chip, arch, p, best.mapping, workload, 1, "decode")
        compute_ops = decode[decode["bound"] != "network"]
        assert (compute_ops["bound"] == "memory").all(), (chip_id, compute_ops[["op", "bound"]])
        prefill = operator_table(chip, arch, p, best.mapping, workload, 1, "prefill")
        gemms = prefill[prefill["op"].isin(GEMM_OPS)]
        assert (gemms["bound"] == "compute").all(), (chip_id, gemms[["op", "bound"]])
        assert best.prefill_bound == "compute", chip_id


def test_rubin_cpx_prefill_turns_compute_bound_only_at_long_prompts(lib):
    # a prefill GEMM's intensity grows with the prompt (~ 2 x tokens x weights / weight bytes): CPX's
    # MLP is memory bound for a short prompt, compute bound for a long one, and the switch happens
    # where the intensity crosses the chip's achievable ridge
    chip = lib.chip("nvidia-rubin-cpx")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "bf16", "bf16")
    ridge = (chip.compute.dense_flops_per_s.bf16 * chip.efficiency.prefill_compute
             / (chip.memory.main.bandwidth_bytes_per_s * chip.efficiency.memory_bandwidth))
    assert 1000 < ridge < 2000
    bounds = {}
    for tokens in (512, 1024, 2048, 4096, 32768):
        w = Workload(tokens, 128)
        best = search(chip, arch, p, w, batch=1, objective="latency").best
        mlp = operator_table(chip, arch, p, best.mapping, w, 1, "prefill").set_index("op").loc["mlp"]
        bounds[tokens] = mlp["bound"]
        assert (mlp["intensity_flop_per_byte"] > ridge) == (mlp["bound"] == "compute"), tokens
    assert bounds[512] == "memory" and bounds[32768] == "compute"


def _dep(tp=1.0, pp=1.0, attn_dp=1.0, ep=1.0, w_bytes=2.0, kv_bytes=2.0, act_bytes=2.0):
    """A deployment row (D_* fields) for direct kernel calls."""
    row = np.zeros(L.D_FIELDS)
    row[L.D_TP], row[L.D_PP], row[L.D_ATTN_DP], row[L.D_EP] = tp, pp, attn_dp, ep
    row[L.D_W_BYTES], row[L.D_KV_BYTES], row[L.D_ACT_BYTES] = w_bytes, kv_bytes, act_bytes
    return row


@pytest.mark.parametrize("model", ["llama-3.1-70b", "llama-2-7b", "mixtral-8x7b", "deepseek-r1", "gpt-oss-120b",
                                   "qwen3-235b-a22b", "gemma-7b"])
def test_decode_flops_per_token_is_twice_active_params(lib, model):
    # A decode token multiplies every active weight once: 2 FLOP (multiply + add) per weight.
    # The input embedding is a lookup (no FLOPs), so it is left out of the parameter count;
    # attention-core FLOPs depend on context and are excluded (context 0 here: tiny anyway).
    # 4096 sequences decode together, so every expert gets at least a whole 16-row GEMM tile
    # (4096 x k / E >= 32 for these models) and the executed FLOPs are the useful ones.
    spec_arch = lib.architecture(model)
    a = pack_architecture(spec_arch)
    flops, nbytes, count = np.zeros(L.N_OPS), np.zeros(L.N_OPS), np.zeros(L.N_OPS)
    seqs = 4096.0
    op_costs_nb(a, _dep(w_bytes=1.0, kv_bytes=1.0), seqs, 1.0, 0.0, True, flops, nbytes, count)
    linear = [L.OP_QKV, L.OP_O_PROJ, L.OP_MLP, L.OP_ROUTER, L.OP_EXPERTS, L.OP_SHARED_EXPERTS, L.OP_LM_HEAD]
    per_token = sum(flops[i] * count[i] for i in linear) / seqs
    active = spec_arch.active_params(count_input_embedding=False)
    norms = spec_arch.n_layers * 2 * spec_arch.hidden + spec_arch.hidden  # norm weights: no matmul
    assert per_token == pytest.approx(2 * (active - norms), rel=1e-3)


def test_a_lone_decode_token_pays_a_whole_tile_per_expert(lib):
    # Mixtral-8x7B on an H100 (bf16), one decode token, top-2 of 8 experts: the 2 experts each compute
    # 16 rows (a GPU's smallest matrix instruction) for 1 useful: a grouped-GEMM efficiency of 1 / 16;
    # a TPU's systolic array streams rows one by one: 1.
    from infersim.kernels.operators import grouped_gemm_efficiency_nb
    from infersim.model.packing import pack_chip

    a = pack_architecture(lib.architecture("mixtral-8x7b"))
    gpu, tpu = pack_chip(lib.chip("nvidia-h100-sxm"), "bf16"), pack_chip(lib.chip("google-tpu-v6e"), "bf16")
    assert grouped_gemm_efficiency_nb(a, _dep(), 1.0, gpu[L.C_GEMM_ROW_TILE]) == pytest.approx(1 / 16, rel=1e-12)
    assert grouped_gemm_efficiency_nb(a, _dep(), 1.0, tpu[L.C_GEMM_ROW_TILE]) == 1.0
    # 256 tokens: 64 per expert on average, more than a tile: no idle rows
    assert grouped_gemm_efficiency_nb(a, _dep(), 256.0, gpu[L.C_GEMM_ROW_TILE]) == 1.0


def test_tiny_model_operator_costs_by_hand():
    # 2 layers, hidden 64, 4 heads of 16, 2 KV heads, FFN 128, vocab 1000; weights 2 B, KV 2 B,
    # activations 2 B; decode of 1 sequence with 10 tokens already cached, tp 1.
    arch = normalise("tiny", HFConfig(model_type="llama", num_hidden_layers=2, hidden_size=64,
                                      num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                                      vocab_size=1000))
    a = pack_architecture(arch)
    f, b, c = np.zeros(L.N_OPS), np.zeros(L.N_OPS), np.zeros(L.N_OPS)
    op_costs_nb(a, _dep(w_bytes=2.0, kv_bytes=2.0), 1.0, 1.0, 10.0, True, f, b, c)
    # qkv: 64 x (4 + 2 + 2) x 16 = 8,192 weights -> 16,384 FLOP;
    # bytes = 8,192 x 2 (weights) + 64 x 2 (input) + 128 x 2 (q, k, v out) = 16,768
    assert (f[L.OP_QKV], b[L.OP_QKV], c[L.OP_QKV]) == (16_384, 16_768, 2)
    # attention: 11 positions (10 cached + itself); 2 FLOP x 4 heads x (16 + 16) x 11 = 2,816 FLOP
    # KV per token 2 x 2 heads x 16 x 2 B = 128 B: read 11 x 128 = 1,408, write 128;
    # q/k/v in (128 x 2) + attention out (64 x 2) = 384  -> 1,920 B
    assert (f[L.OP_ATTN], b[L.OP_ATTN]) == (2_816, 1_920)
    # o_proj: 64 x 64 = 4,096 weights -> 8,192 FLOP; bytes 8,192 + (64 + 64) x 2 = 8,448
    assert (f[L.OP_O_PROJ], b[L.OP_O_PROJ]) == (8_192, 8_448)
    # mlp: 3 x 64 x 128 = 24,576 weights -> 49,152 FLOP; bytes 49,152 + (2 x 64 + 3 x 128) x 2 = 50,176
    assert (f[L.OP_MLP], b[L.OP_MLP]) == (49_152, 50_176)
    # lm head: 64 x 1000 weights -> 128,000 FLOP; bytes 128,000 + 64 x 2 + 1000 x 4 (fp32 logits) = 132,128
    assert (f[L.OP_LM_HEAD], b[L.OP_LM_HEAD], c[L.OP_LM_HEAD]) == (128_000, 132_128, 1)
    # parameters: 2 layers x (8,192 + 4,096 + 24,576 + 2 x 64 norms) = 73,984
    #           + 2 x 64,000 (embedding and LM head) + 64 (final norm) = 202,048
    assert arch.total_params() == 202_048


def test_roofline_overlap_loss_by_hand():
    # 2e12 FLOP on 1e15 FLOP/s at 50 % -> 4 ms of compute; 6e9 B on 3e12 B/s at 100 % -> 2 ms of memory.
    # Pure roofline: max(4, 2) = 4 ms, compute bound; with a third of the shorter term exposed:
    # 4 + 2 / 3 = 4.667 ms; fully serialised: 4 + 2 = 6 ms. Swapping the sizes makes it memory bound.
    assert roofline_time_nb(2e12, 6e9, 1e15, 3e12, 0.5, 1.0, 0.0) == (pytest.approx(4e-3), L.BOUND_COMPUTE)
    assert roofline_time_nb(2e12, 6e9, 1e15, 3e12, 0.5, 1.0, 1 / 3)[0] == pytest.approx(4e-3 + 2e-3 / 3)
    assert roofline_time_nb(2e12, 6e9, 1e15, 3e12, 0.5, 1.0, 1.0)[0] == pytest.approx(6e-3)
    assert roofline_time_nb(1e12, 12e9, 1e15, 3e12, 0.5, 1.0, 0.5) == (pytest.approx(4e-3 + 1e-3), L.BOUND_MEMORY)


def test_ring_allreduce_by_hand():
    # 1 MB over 4 chips at 100 GB/s per direction, 1 us per step, full efficiency:
    # 2 x 3 steps x 1 us + 2 x 3/4 x 1e6 B / 1e11 B/s = 6 us + 15 us = 21 us
    assert ring_allreduce_time_nb(1e6, 4, 1e11, 1e-6, 1.0) == pytest.approx(21e-6, rel=1e-12)
    # tree over 16 chips: 2 x log2(16) = 8 latencies + 2 x msg / bw.
    # 16 KB at 100 GB/s, 3 us: 8 x 3 us + 2 x 1.6e4 / 1e11 = 24 us + 0.32 us = 24.32 us (ring: 90.3 us)
    assert tree_allreduce_time_nb(1.6e4, 16, 1e11, 3e-6, 1.0) == pytest.approx(24.32e-6, rel=1e-12)
    assert allreduce_time_nb(1.6e4, 16, 1e11, 3e-6, 1.0) == pytest.approx(24.32e-6, rel=1e-12)
    # and for 1 GB over 8 chips the ring wins: 14 x 1 us + 1.75 x 1e9 / 1e11 = 17.514 ms (tree 20.006 ms)
    assert allreduce_time_nb(1e9, 8, 1e11, 1e-6, 1.0) == pytest.approx(17.514e-3, rel=1e-12)


def test_lpu_needs_hundreds_of_chips_for_llama2_70b(lib):
    # GroqChip: 230 MB SRAM, no DRAM. Llama-2-70B fp16: 68.98e9 x 2 B = 137.95 GB of weights;
    # at the usable fraction (0.85) that is 137.95e9 / (230e6 x 0.85) = 706 chips at the least.
    chip = lib.chip("groq-lpu-v1")
    arch = lib.architecture("llama-2-70b")
    p = resolve_precision(chip, "fp16", "fp16")
    found = search(chip, arch, p, Workload(1024, 256), batch=1, objective="latency")
    floor = arch.total_params() * 2 / (chip.memory.sram.capacity_bytes * chip.efficiency.usable_memory_fraction)
    assert found.min_chips >= floor
    assert 500 <= found.min_chips <= 1.5 * floor
    # "SRAM LPUs buy latency with many chips": faster per user than the fastest 8-GPU H100 mapping,
    # with >= 50x the chips and far fewer tokens/s per chip at batch 1. (The spatial model pays a
    # fitted chip-to-chip step per collective and stage hop, so the margin is ~1.5x, not more.)
    gpu = lib.chip("nvidia-h100-sxm")
    gpu_best = search(gpu, arch, resolve_precision(gpu, "fp16", "fp16"), Workload(1024, 256), batch=1,
                      objective="latency").best
    lpu = found.best
    assert lpu.user_tokens_per_s > 1.2 * gpu_best.user_tokens_per_s
    assert lpu.mapping.chips >= 50 * gpu_best.mapping.chips
    assert lpu.tokens_per_s_per_chip < gpu_best.tokens_per_s_per_chip / 10


def test_attention_dp_splits_mla_kv_by_sequence_and_tp_replicates_it(lib):
    # DeepSeek-R1 (MLA): one latent vector per token per layer, (512 + 64) x 1 B (fp8) = 576 B;
    # 61 layers; 1024 + 256 tokens -> 1280 x 61 x 576 = 44,974,080 B per sequence.
    # 8 x H200, batch 64 per replica:
    #   tp8 ep8 (attention TP): every chip holds the latent KV of all 64 sequences (replicated, as
    #   engines do): 64 x 44,974,080 = 2,878,341,120 B per chip;
    #   tp1 dp8 ep8 (attention DP): each chip holds its 8 sequences: 359,792,640 B per chip.
    # Weights: routed experts 58 layers x 256 x (3 x 7168 x 2048 = 44,040,192) = 653,908,770,816
    # parameters, spread over all 8 chips in both; the rest (total - routed) over tp: 8 or 1.
    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    p = resolve_precision(chip, "fp8", "fp8")
    w = Workload(1024, 256)
    tp8 = evaluate(chip, arch, p, Mapping(tp=8, ep=8), w, batch=64)
    dp8 = evaluate(chip, arch, p, Mapping(tp=1, ep=8, attn_dp=8), w, batch=64)
    assert tp8.kv_bytes_per_chip == pytest.approx(2_878_341_120, rel=1e-12)
    assert dp8.kv_bytes_per_chip == pytest.approx(359_792_640, rel=1e-12)
    routed = 653_908_770_816
    total = arch.total_params()
    assert tp8.weight_bytes_per_chip == pytest.approx(total / 8, rel=1e-12)
    assert dp8.weight_bytes_per_chip == pytest.approx(total - routed + routed / 8, rel=1e-12)
    assert Mapping(tp=1, ep=8, attn_dp=8).chips == 8 and Mapping(tp=8, ep=64, attn_dp=8).chips == 64


def test_mapping_labels_use_the_engines_vocabulary():
    assert Mapping(tp=8, ep=64, attn_dp=8).label == "tp8 dp8 ep64"
    assert Mapping(tp=8).label == "tp8"
    assert Mapping(tp=1, pp=2, replicas=3).label == "tp1 pp2 x3"
    assert Mapping(tp=2, ep=4, attn_dp=4).expert_tp == 2


@pytest.mark.parametrize("mapping, model, says", [
    (Mapping(tp=8, ep=3), "deepseek-r1", "ep=3 must divide"),
    (Mapping(tp=1, ep=512, attn_dp=512), "deepseek-r1", "at most the 256 experts"),
    (Mapping(tp=1, attn_dp=4), "llama-3.1-70b", "use replicas = 4"),
    (Mapping(tp=8, ep=8), "llama-3.1-70b", "has no experts"),
])
def test_mapping_mistakes_say_how_to_fix_them(lib, mapping, model, says):
    from infersim.errors import InfersimError
    from infersim.model.configuration import check_mapping

    with pytest.raises(InfersimError, match=says):
        check_mapping(lib.chip("nvidia-h100-sxm"), lib.architecture(model), mapping)
