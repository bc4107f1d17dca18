"""The spatial dataflow model (kernels/spatial_step.py): against its plain-Python twin, by hand,
its properties, the per-layer budget and the fitted parameter of each spatial family."""

import math

import numpy as np
import pytest

from infersim.accuracy.spatial_speeds import fit_chip, read_speed_rows, speed_report, with_spatial_value
from infersim.errors import InfersimError
from infersim.kernels import layout as L
from infersim.kernels import spatial_step as S
from infersim.kernels.step import evaluate_nb, new_result_matrix, step_time_nb
from infersim.model.configuration import Mapping, Workload, resolve_precision
from infersim.model.evaluate import evaluate
from infersim.model.packing import pack_architecture, pack_chip
from infersim.model.spatial_budget import budget_table, decode_budget, evaluate_streaming, vendor_speculation
from tests import naive
from tests.test_library_files import ROOT

RNG = np.random.default_rng(20261128)
REL = 1e-12
SPATIAL_CHIPS = (("groq-lpu-v1", "fp16"), ("cerebras-wse3", "fp16"), ("sambanova-sn40l", "bf16"))
SPEEDS = ROOT / "benchmarks" / "accuracy" / "spatial_speeds.csv"


def _close(a, b):
    return a == pytest.approx(b, rel=REL, abs=1e-300)


def _scratch():
    return ([np.zeros(L.N_OPS) for _ in range(4)], np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3),
            [np.zeros(L.N_OPS) for _ in range(3)])


def _dep(tp, pp, attn_dp, ep, wb, kvb, ab):
    row = np.zeros(L.D_FIELDS)
    fields = [L.D_TP, L.D_PP, L.D_ATTN_DP, L.D_EP, L.D_W_BYTES, L.D_KV_BYTES, L.D_ACT_BYTES]
    row[fields] = tp, pp, attn_dp, ep, wb, kvb, ab
    return row


def test_fabric_phase_by_hand(lib):
    # a 762 x 1172 mesh in 4 regions: each 381 x 586 PEs; 967 hops at 1 ns = 967 ns, and a
    # 3,810-byte message over the region's 381 edge links of 1e9 B/s = 10 ns: 977 ns
    c = pack_chip(lib.chip("cerebras-wse3"), "fp16")
    c[L.C_SP_HOP_S], c[L.C_SP_LINK_BW] = 1e-9, 1e9
    assert S.fabric_phase_s_nb(c, 4.0, 3810.0) == pytest.approx(977e-9, rel=1e-12)


@pytest.mark.parametrize("chip_id,dtype", SPATIAL_CHIPS)
@pytest.mark.parametrize("model", ["llama-3.1-70b", "deepseek-r1", "gpt-oss-120b", "qwen3-32b"])
def test_spatial_pass_and_step_match_naive(lib, chip_id, dtype, model):
    a = pack_architecture(lib.architecture(model))
    c = pack_chip(lib.chip(chip_id), dtype)
    c[L.C_SP_STREAM_BW] = 1e11  # every chip may stream here, to exercise that path
    (flops, nbytes, count, times), bounds, bt, (wf, wb_, wc) = _scratch()
    for _ in range(12):
        n_seqs = float(RNG.integers(1, 64))
        new = 1.0 if RNG.random() < 0.5 else float(RNG.integers(2, 2048))
        past = float(RNG.integers(0, 8192))
        decode = new == 1.0
        wb, kvb = RNG.choice([0.5625, 1.0, 2.0]), RNG.choice([1.0, 2.0])
        tp, pp = float(RNG.choice([1, 2, 4, 8])), float(RNG.integers(1, 9))
        moe = a[L.A_N_MOE_LAYERS] > 0
        attn_dp = float(RNG.choice([1, 2, 4])) if moe else 1.0
        ep = float(RNG.choice([1.0, tp * attn_dp])) if moe else 1.0
        dep = _dep(tp, pp, attn_dp, ep, wb, kvb, 2.0)
        g = float(RNG.choice([1, 2, 4, 8]))
        frac = RNG.choice([0.0, RNG.uniform(0.05, 0.9)])
        t, compute, fabric, layer_c2c, stage_c2c, _ = S.spatial_pass_nb(
            a, c, dep, n_seqs, new, past, decode, g, frac, flops, nbytes, count, times, bounds, bt, wf, wb_, wc,
            S.weights_only_dep_nb(dep))
        t2, p2 = naive.spatial_pass(a, c, n_seqs, new, past, decode, wb, kvb, 2.0, tp, pp, ep, g, frac, attn_dp)
        assert _close(t, t2)
        assert _close(compute, p2["compute"]) and _close(fabric, p2["fabric"])
        assert _close(layer_c2c, p2["c2c_layer"]) and _close(stage_c2c, p2["c2c_stage"])
        assert _close(bt.sum(), t)
        # step_time_nb hands a spatial chip to the spatial kernel, at the fastest layout
        t3 = step_time_nb(a, c, dep, n_seqs, new, past, decode, flops, nbytes, count, times, bounds, bt)
        assert _close(t3, naive.spatial_step(a, c, n_seqs, new, past, decode, wb, kvb, 2.0, tp, pp, ep, attn_dp))


@pytest.mark.parametrize("chip_id,dtype", SPATIAL_CHIPS)
@pytest.mark.parametrize("model", ["llama-3.1-8b", "gpt-oss-120b", "deepseek-r1"])
def test_spatial_evaluate_matches_naive(lib, chip_id, dtype, model):
    arch = pack_architecture(lib.architecture(model))
    chip = pack_chip(lib.chip(chip_id), dtype)
    chip[L.C_SP_STREAM_BW] = chip[L.C_SP_STREAM_BW] or 5e10
    cfgs = []
    for _ in range(25):
        row = np.zeros(L.K_FIELDS)
        row[L.K_TP] = RNG.choice([1, 2, 4, 8, 16])
        row[L.K_PP] = RNG.integers(1, int(arch[L.A_N_LAYERS]) + 1)
        moe = arch[L.A_N_MOE_LAYERS] > 0
        row[L.K_ATTN_DP] = RNG.choice([1, 2]) if moe else 1
        row[L.K_EP] = RNG.choice([1, row[L.K_TP] * row[L.K_ATTN_DP]]) if moe else 1
        row[L.K_BATCH] = RNG.choice([0, 1, 3, 32])
        row[L.K_INPUT_LEN] = RNG.integers(1, 4000)
        row[L.K_OUTPUT_LEN] = RNG.integers(1, 1000)
        row[L.K_W_BYTES] = RNG.choice([0.5625, 1.0, 2.0])
        row[L.K_KV_BYTES] = RNG.choice([1.0, 2.0])
        row[L.K_ACT_BYTES] = 2.0
        row[L.K_REPLICAS] = RNG.integers(1, 3)
        row[L.K_PREFILL_CHUNK] = RNG.choice([0, 512, 8192])
        cfgs.append(row)
    cfgs = np.array(cfgs)
    out = new_result_matrix(len(cfgs))
    evaluate_nb(arch[None, :], chip[None, :], cfgs, out)
    streamed = new_result_matrix(len(cfgs))
    (flops, nbytes, count, times), bounds, bt, _ = _scratch()
    for row, r in zip(cfgs, streamed):
        S.spatial_streaming_evaluate_one_nb(arch, chip, row, r, flops, nbytes, count, times, bounds, bt)
    n_fit = 0
    for row, r, rs in zip(cfgs, out, streamed):
        args = (row[L.K_TP], row[L.K_PP], row[L.K_EP], row[L.K_BATCH], row[L.K_INPUT_LEN], row[L.K_OUTPUT_LEN],
                row[L.K_W_BYTES], row[L.K_KV_BYTES], row[L.K_ACT_BYTES], row[L.K_REPLICAS], row[L.K_PREFILL_CHUNK])
        for res, stream in ((r, 0), (rs, 1)):
            twin = naive.spatial_evaluate(arch, chip, *args, stream=stream, attn_dp=row[L.K_ATTN_DP])
            assert res[L.R_MAX_BATCH] == twin["max_batch"]
            assert (res[L.R_FITS] == 1.0) == twin["fits"]
            if twin["fits"]:
                n_fit += 1
                for key, field in (("ttft_s", L.R_TTFT_S), ("tpot_s", L.R_TPOT_S), ("system_tok_s", L.R_SYSTEM_TOK_S),
                                   ("prefill_share", L.R_PREFILL_SHARE)):
                    assert _close(res[field], twin[key]), key
    assert n_fit > 5


def test_slower_hops_and_links_make_every_token_slower(lib):
    chip = lib.chip("cerebras-wse3")
    arch = lib.architecture("qwen3-32b")
    p = resolve_precision(chip, "fp16", "fp16")
    w = Workload(1000, 200)
    m = Mapping(tp=1, pp=2)
    base = evaluate(chip, arch, p, m, w, batch=1).tpot_s
    slower_hop = evaluate(with_spatial_value(chip, "fabric_hop_s", 2 * chip.spatial.fabric_hop_s), arch, p, m, w,
                          batch=1).tpot_s
    slower_c2c = evaluate(chip.model_copy(update={"interconnect": chip.interconnect.model_copy(
        update={"scaleout_latency_s": 2 * chip.interconnect.scaleout_latency_s})}), arch, p, m, w, batch=1).tpot_s
    assert slower_hop > base and slower_c2c > base
    # a batch of 64 on two wafers: the compiler splits each wafer into regions so that every
    # sequence's token is in flight at once (64 regions), and each pass carries one token each
    b64 = decode_budget(chip, arch, p, m, w, 64)
    assert b64.tokens_in_flight >= 64 and b64.regions_per_chip == b64.tokens_in_flight // 2


def test_budget_parts_add_up_to_the_step(lib):
    chip = lib.chip("groq-lpu-v1")
    arch = lib.architecture("gpt-oss-120b")
    p = resolve_precision(chip, "fp4", "fp8")
    w = Workload(1000, 1000)
    m = Mapping(tp=16, pp=24)
    b = decode_budget(chip, arch, p, m, w, batch=1)
    assert b.tpot_s == pytest.approx(evaluate(chip, arch, p, m, w, batch=1).tpot_s, rel=1e-12)
    table = budget_table(chip, b)
    assert table["per_token_s"].sum() == pytest.approx(b.tpot_s, rel=1e-12)
    assert table["share"].sum() == pytest.approx(1.0, rel=1e-12)
    # on GroqChip a token's time is mostly chip-to-chip steps: 2 tree all-reduces over 16 chips
    # per layer = 2 x 2 x log2(16) = 16 steps, x 36 layers = 576, plus 23 stage hops
    steps = b.c2c_layer_s / chip.interconnect.scaleup_latency_s
    assert 576 <= steps <= 576 * 1.01  # the rest is bytes over 240 GB/s: a few KB per step
    assert b.per_layer()["c2c_in_layer"] == pytest.approx(b.c2c_layer_s / 36, rel=1e-12)


def test_weight_streaming_mode(lib):
    # Llama-3.1-405B bf16 (811 GB) on one CS-3 streams every weight from MemoryX each step at 150 GB/s
    # and 0.9 efficiency: 811e9 / 135e9 = 6.0 s per token, the SRAM left to the KV cache: 1,100 tokens
    # x 126 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 0.568 GB a sequence, 44e9 x 0.85 / 0.568e9 = 65
    # sequences less activations; at that batch the step is still the weight stream (compute
    # 64 x 2 x 405e9 / (15.6e15 x 0.5) = 6.6 ms)
    chip = lib.chip("cerebras-wse3")
    arch = lib.architecture("llama-3.1-405b")
    p = resolve_precision(chip, "bf16", "bf16")
    w = Workload(1000, 100)
    assert not evaluate(chip, arch, p, Mapping(), w, batch=1).fits
    r1 = evaluate_streaming(chip, arch, p, Mapping(), w, batch=1)
    stream_s = arch.total_params() * 2 / (chip.memory.host.bandwidth_bytes_per_s * chip.efficiency.memory_bandwidth)
    assert r1.fits and r1.tpot_s == pytest.approx(stream_s, rel=0.02)
    r64 = evaluate_streaming(chip, arch, p, Mapping(), w, batch=64)
    assert r64.tpot_s == pytest.approx(r1.tpot_s, rel=0.02) and 60 <= r64.max_batch <= 65
    with pytest.raises(InfersimError, match="weight-streaming"):
        evaluate_streaming(lib.chip("groq-lpu-v1"), arch, resolve_precision(lib.chip("groq-lpu-v1"), "fp16", "fp16"),
                           Mapping(), w, batch=1)


def test_vendor_speculation_only_where_the_vendor_uses_it(lib):
    arch = lib.architecture("qwen3-32b")
    w = Workload(1000, 1000)
    cer = lib.chip("cerebras-wse3")
    s = vendor_speculation(cer, arch, resolve_precision(cer, "fp16", "fp16"), Mapping(tp=1, pp=2), w)
    assert s is not None and s.k == cer.spatial.speculative.draft_tokens and s.speedup > 1.0
    groq = lib.chip("groq-lpu-v1")
    assert vendor_speculation(groq, arch, resolve_precision(groq, "fp16", "fp16"), Mapping(tp=8, pp=32), w) is None


@pytest.fixture(scope="module")
def speeds():
    return read_speed_rows(SPEEDS)


def test_fitted_values_reproduce_their_rows(lib, speeds):
    # each spatial chip's fitted field, as written in its file, makes the median log error of its
    # fitted_on rows zero (bisection tolerance); anything else means the file and the fit disagree
    for chip_id in speeds["hardware"].unique():
        chip = lib.chip(chip_id)
        rows = speeds[speeds["id"].isin(chip.spatial.fitted_on)]
        report = speed_report(lib, rows)
        assert abs(np.median(np.log1p(report["signed_error"]))) < 0.01, chip_id


def test_held_out_speeds_within_the_committed_errors(lib, speeds):
    # the published per-user speeds the fit did not see, at their committed errors (benchmarks/accuracy/
    # spatial_fit.py prints them); a change to the spatial model or these chips that moves a row
    # more than 5 points away from the measurement fails here
    committed = {"groq-gpt-oss-120b-pricing": -0.258, "groq-gpt-oss-120b-aa": -0.221,
                 "cerebras-qwen3-32b-docs-2600": -0.192, "cerebras-qwen3-235b-thinking-docs": -0.278,
                 "cerebras-qwen3-235b-2507-docs": -0.226, "cerebras-glm-4.6-code": 0.050,
                 "cerebras-gpt-oss-120b-low-aa": 0.461, "cerebras-gpt-oss-120b-aa": 0.580,
                 "cerebras-kimi-k2.6-aa": 0.078, "sambanova-deepseek-aa": -0.208,
                 "sambanova-gpt-oss-120b-low-aa": -0.254, "sambanova-gpt-oss-120b-aa": -0.205,
                 "sambanova-minimax-m2.7-post": -0.245, "dmatrix-llama3-70b-rack": 0.248}
    report = speed_report(lib, speeds[speeds["id"].isin(committed)]).set_index("id")
    for row_id, err in committed.items():
        assert abs(report.loc[row_id, "signed_error"]) <= abs(err) + 0.05, row_id


@pytest.mark.jit_only
def test_fit_finds_the_value_again(lib, speeds):
    # bracketed around the written value (the full bracket, 1e-12 .. 1e-3 s, takes 60 bisections)
    written = lib.chip("sambanova-sn40l").interconnect.scaleup_latency_s
    value, rep = fit_chip(lib, speeds, "sambanova-sn40l", lo=written / 3, hi=written * 3, iterations=20)
    assert value == pytest.approx(written, rel=0.01)
    assert math.isclose(rep["signed_error"].iloc[0], 0.0, abs_tol=1e-6)
