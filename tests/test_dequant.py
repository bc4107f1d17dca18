"""Weight-only quantisation: the vector units unpack and scale every weight a step reads."""

import numpy as np
import pytest

from infersim.kernels import layout as L
from infersim.kernels.mixed_step import mixed_step_time_nb, new_scratch
from infersim.kernels.operators import dequant_s_nb
from infersim.kernels.step import compute_ops_nb, step_time_nb
from infersim.model.configuration import dequant_ops, resolve_precision
from infersim.model.packing import VECTOR_SHARE_OF_BF16, pack_architecture, pack_chip, vector_flops


def _dep(tp, w_bytes, ops):
    dep = np.zeros(L.D_FIELDS)
    dep[[L.D_TP, L.D_PP, L.D_ATTN_DP, L.D_EP, L.D_W_BYTES, L.D_KV_BYTES, L.D_ACT_BYTES]] = tp, 1, 1, 1, w_bytes, 2, 2
    dep[L.D_DEQUANT_OPS] = ops
    return dep


def _scratch():
    f, b, cnt, t = (np.zeros(L.N_OPS) for _ in range(4))
    return f, b, cnt, t, np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)


def test_dequantisation_time_by_hand(lib):
    # Llama-3.1-8B q, k, v projections: 4096 x (4096 + 2 x 1024) = 25,165,824 weights, 12,582,912 per
    # chip at tp2; int4 weights take 4 vector operations each (unpack, convert, scale); the H100's
    # CUDA cores do 66.9e12 / 2 = 33.45e12 operations/s: 12,582,912 x 4 / 33.45e12 = 1.5047 us
    a = pack_architecture(lib.architecture("llama-3.1-8b"))
    c = pack_chip(lib.chip("nvidia-h100-sxm"), "bf16")
    assert c[L.C_VECTOR_FLOPS] == 66.9e12
    assert dequant_s_nb(a, c, _dep(2, 0.5, 4.0), L.OP_QKV, 1.0) == pytest.approx(12_582_912 * 4 / 33.45e12, rel=1e-12)
    assert dequant_s_nb(a, c, _dep(2, 0.5, 0.0), L.OP_QKV, 1.0) == 0.0          # weights in the math's dtype
    assert dequant_s_nb(a, c, _dep(2, 0.5, 4.0), L.OP_ATTN, 1.0) == 0.0         # attention reads no weights


def test_a_compute_bound_step_pays_the_whole_unpack(lib):
    # prefill of 4096 tokens: every projection is compute-bound, so each op's time grows by exactly its
    # unpack seconds (the max of the roofline moves, the hidden memory term does not)
    a = pack_architecture(lib.architecture("llama-3.1-8b"))
    c = pack_chip(lib.chip("nvidia-h100-sxm"), "bf16")
    f, b, cnt, t, bounds, bt = _scratch()
    plain = compute_ops_nb(a, c, _dep(1, 0.5, 0.0), 1.0, 4096.0, 0.0, False, f, b, cnt, t, bounds, bt)
    t0, b0 = t.copy(), bounds.copy()
    slow = compute_ops_nb(a, c, _dep(1, 0.5, 4.0), 1.0, 4096.0, 0.0, False, f, b, cnt, t, bounds, bt)
    unpack = [cnt[op] * dequant_s_nb(a, c, _dep(1, 0.5, 4.0), op, 4096.0) for op in range(L.N_OPS)]
    for op in (L.OP_QKV, L.OP_O_PROJ, L.OP_MLP):
        assert b0[op] == L.BOUND_COMPUTE
        assert t[op] - t0[op] == pytest.approx(dequant_s_nb(a, c, _dep(1, 0.5, 4.0), op, 4096.0), rel=1e-9)
    # the LM head (one token's logits) is memory-bound: its unpack hides partly under its read
    assert b0[L.OP_LM_HEAD] == L.BOUND_MEMORY
    assert sum(unpack) - unpack[L.OP_LM_HEAD] < slow - plain < sum(unpack)


def test_memory_bound_decode_hides_most_of_it_but_never_gains(lib):
    # one sequence decoding: the H100 reads 0.5 B per weight at 3.35 TB/s (6.7e12 weights/s, less at
    # the fitted memory efficiency) and unpacks 33.45e12 / 4 = 8.4e12 weights/s, so the unpack sits under
    # the read: a memory-bound operator shows only the overlap loss's share of it, whatever the fit
    arch, chip = lib.architecture("llama-3.1-70b"), lib.chip("nvidia-h100-sxm")
    int4 = resolve_precision(chip, "int4", "fp8")
    assert int4.weight_only and dequant_ops(int4) == 4.0
    assert dequant_ops(resolve_precision(chip, "fp8", "fp8")) == 0.0
    a, c = pack_architecture(arch), pack_chip(chip, int4.compute_dtype)
    f, b, cnt, t, bounds, bt = _scratch()
    dep0, dep4 = _dep(4, 0.5, 0.0), _dep(4, 0.5, 4.0)
    free = step_time_nb(a, c, dep0, 1.0, 1.0, 1100.0, True, f, b, cnt, t, bounds, bt)
    paid = step_time_nb(a, c, dep4, 1.0, 1.0, 1100.0, True, f, b, cnt, t, bounds, bt)
    unpack = sum(cnt[op] * dequant_s_nb(a, c, dep4, op, 1.0) for op in range(L.N_OPS))
    assert all(bounds[op] == L.BOUND_MEMORY for op in (L.OP_QKV, L.OP_O_PROJ, L.OP_MLP, L.OP_LM_HEAD))
    assert paid - free == pytest.approx(c[L.C_OVERLAP_LOSS] * unpack, rel=1e-9)
    assert free < paid < free + unpack


def test_mixed_iteration_unpacks_each_weight_once(lib):
    # a pure prefill or pure decode iteration is the step model with its unpack; mixing shares the read
    a = pack_architecture(lib.architecture("llama-3.1-70b"))
    c = pack_chip(lib.chip("nvidia-h100-sxm"), "fp8")
    dep = _dep(4, 0.5, 4.0)
    s = new_scratch()
    f, b, cnt, t, bounds, bt = _scratch()
    assert mixed_step_time_nb(a, c, dep, 0.0, 0.0, 1.0, 1024.0, 0.0, 1024.0, s) == pytest.approx(
        step_time_nb(a, c, dep, 1.0, 1024.0, 0.0, False, f, b, cnt, t, bounds, bt), rel=1e-12)
    both = mixed_step_time_nb(a, c, dep, 64.0, 1000.0, 1.0, 512.0, 0.0, 512.0, s)
    apart = (step_time_nb(a, c, dep, 64.0, 1.0, 1000.0, True, f, b, cnt, t, bounds, bt)
             + step_time_nb(a, c, dep, 1.0, 512.0, 0.0, False, f, b, cnt, t, bounds, bt))
    assert both < apart


def test_fp4_moe_on_a_gpu_without_fp4_math_is_no_longer_free(lib):
    # gpt-oss-120b's MXFP4 experts on one H100 (no fp4 math: computed in bf16, as Marlin-style kernels
    # do; 4 operations per weight), 64 sequences decoding: the read takes 0.5625 B / (3.35e12 x 0.624)
    # = 0.27 ns per weight, the unpack 4 / 33.45e12 = 0.12 ns, so with the matrix work it is no longer
    # hidden: the step slows by more than 10 % (it was free before)
    chip, arch = lib.chip("nvidia-h100-sxm"), lib.architecture("gpt-oss-120b")
    p = resolve_precision(chip, "fp4", "fp8")
    assert p.weight_only and p.compute_dtype == "bf16" and dequant_ops(p) == 4.0
    a, c = pack_architecture(arch), pack_chip(chip, p.compute_dtype)
    f, b, cnt, t, bounds, bt = _scratch()
    free = step_time_nb(a, c, _dep(1, 0.5625, 0.0), 64.0, 1.0, 2000.0, True, f, b, cnt, t, bounds, bt)
    paid = step_time_nb(a, c, _dep(1, 0.5625, 4.0), 64.0, 1.0, 2000.0, True, f, b, cnt, t, bounds, bt)
    assert 1.10 * free < paid < 1.5 * free


def test_vector_rate_sources(lib):
    # the file's FP32 rate where it has one; else an estimate from the BF16 matrix rate, labelled
    h100 = lib.chip("nvidia-h100-sxm")
    assert vector_flops(h100) == (66.9e12, "derived: the chip's dense FP32 rate")
    chips = [lib.chip(i) for i in lib.ids("chip")]
    no_fp32 = [c for c in chips if "fp32" not in c.compute.dense_flops_per_s.available()
               and c.compute.vector_flops_per_s is None and "bf16" in c.compute.dense_flops_per_s.available()]
    assert no_fp32
    rate, why = vector_flops(no_fp32[0])
    assert rate == pytest.approx(no_fp32[0].compute.dense_flops_per_s.available()["bf16"] * VECTOR_SHARE_OF_BF16)
    assert why.startswith("estimate")
