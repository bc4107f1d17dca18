"""Every numba kernel against its plain-Python twin (tests/naive.py) on random inputs."""

import numpy as np
import pytest

from infersim.kernels import collectives as col
from infersim.kernels import layout as L
from infersim.kernels import operators as ops
from infersim.kernels.mixed_step import mixed_step_time_nb, new_scratch
from infersim.kernels.roofline import roofline_time_nb
from infersim.kernels.step import evaluate_nb, new_result_matrix, step_time_nb
from infersim.model.packing import pack_architecture, pack_chip
from tests import naive

RNG = np.random.default_rng(20261122)
REL = 1e-12


def _close(a, b):
    return a == pytest.approx(b, rel=REL, abs=1e-300)


def test_roofline_matches_naive():
    for _ in range(500):
        f, b, peak, bw = 10 ** RNG.uniform(3, 15, 4)
        ec, em = RNG.uniform(0.05, 1, 2)
        loss = RNG.choice([0.0, RNG.uniform(0, 1), 1.0])
        t, bound = roofline_time_nb(f, b, peak, bw, ec, em, loss)
        t2, bound2 = naive.roofline(f, b, peak, bw, ec, em, loss)
        assert _close(t, t2) and L.BOUND_NAMES[bound] == bound2


def test_collectives_match_naive():
    for _ in range(500):
        msg = 10 ** RNG.uniform(0, 10)
        g = int(RNG.integers(1, 300))
        bw = 10 ** RNG.uniform(9, 12)
        lat = RNG.uniform(0, 1e-5)
        eff = RNG.uniform(0.1, 1)
        assert _close(col.ring_allreduce_time_nb(msg, g, bw, lat, eff), naive.ring_allreduce(msg, g, bw, lat, eff))
        assert _close(col.tree_allreduce_time_nb(msg, g, bw, lat, eff), naive.tree_allreduce(msg, g, bw, lat, eff))
        assert _close(col.allreduce_time_nb(msg, g, bw, lat, eff), naive.allreduce(msg, g, bw, lat, eff))
        up, out = 10 ** RNG.uniform(0, 10, 2) * RNG.integers(0, 2, 2)
        assert _close(col.exchange_time_nb(up, out, bw, bw / 9, eff, lat), naive.exchange_time(up, out, bw, bw / 9, eff, lat))
        assert _close(col.p2p_time_nb(msg, bw, lat, eff), naive.p2p(msg, bw, lat, eff))
        dom = int(RNG.integers(1, 300))
        assert col.link_for_group_nb(g, dom, 1.0, 2.0, 3.0, 4.0) == naive.link(g, dom, 1.0, 2.0, 3.0, 4.0)


def test_torus_hops_match_brute_force_on_even_sides():
    for dims in (1, 2, 3):
        for side in (2, 4, 6, 8, 16):
            g = float(side ** dims)
            assert _close(col.torus_hops_nb(g, float(dims)), naive.torus_hops(g, dims))
    assert col.torus_hops_nb(64.0, 0.0) == 1.0     # switched fabric: one hop


def test_expert_geometry_matches_naive_and_combinatorics(lib):
    import math

    from infersim.kernels import experts

    for e, k, held in ((256, 8, 32), (256, 8, 2), (128, 4, 16), (8, 2, 4), (256, 8, 256)):
        exact = math.comb(e - held, k) / math.comb(e, k)   # hypergeometric: none of k in the held set
        assert _close(experts.none_chosen_nb(float(e), float(k), float(held)), exact)
    for model in ("deepseek-r1", "gpt-oss-120b", "mixtral-8x7b", "qwen3-235b-a22b"):
        a = pack_architecture(lib.architecture(model))
        for _ in range(60):
            tp = float(RNG.choice([1, 2, 8]))
            attn_dp = float(RNG.choice([1, 2, 4, 8, 16, 32]))
            ep = float(RNG.choice([1.0, attn_dp, tp * attn_dp]))
            domain = float(RNG.choice([1, 8, 72, 9216]))
            ll = bool(RNG.random() < 0.5)
            dep = _dep(tp, 1.0, attn_dp, ep, 1.0, 1.0, 2.0)
            got = experts.exchange_copies_nb(a, dep, domain, ll)
            want = naive.exchange_copies(a, tp, attn_dp, ep, domain, ll)
            assert _close(got[0], want[0]) and _close(got[1], want[1])


def test_context_sum_matches_brute_force():
    for _ in range(300):
        past = float(RNG.integers(0, 3000))
        new = float(RNG.integers(1, 600))
        window = float(RNG.choice([0, 1, 64, 128, 4096]))
        assert _close(ops.context_sum_nb(past, new, window), naive.context_sum(past, new, window))


def test_expert_load_matches_naive():
    import statistics

    from infersim.kernels import expert_load as EL

    for p in (1e-6, 0.01, 0.3, 0.5, 0.97, 0.999999):
        assert EL.normal_quantile_nb(p) == pytest.approx(statistics.NormalDist().inv_cdf(p), rel=1e-11)
    for _ in range(300):
        e = float(RNG.choice([8, 64, 128, 256]))
        k = float(RNG.choice([1, 2, 8]))
        ep = float(RNG.choice([1, 2, 8, 32, 72, 144]))
        ep = min(ep, e)
        redundant = float(RNG.choice([0, 0, 8, 32]))
        skew = float(RNG.choice([0.0, 0.0, 0.5, 1.2]))
        tokens = float(RNG.integers(0, 20000))
        dep = np.zeros(L.D_FIELDS)
        dep[L.D_EP], dep[L.D_REDUNDANT_EXPERTS], dep[L.D_ROUTING_SKEW] = ep, redundant, skew
        a = np.zeros(L.A_FIELDS)
        a[L.A_N_EXPERTS], a[L.A_TOPK] = e, k
        got = EL.busiest_rank_load_nb(a, dep, tokens)
        want = naive.busiest_rank(e, k, ep, redundant, skew, tokens)
        assert got[0] == want[0] and got[1] == pytest.approx(want[1], rel=1e-9)


def _dep(tp, pp, attn_dp, ep, wb, kvb, ab, dispatch=0.0, tbo=0.0):
    row = np.zeros(L.D_FIELDS)
    row[[L.D_TP, L.D_PP, L.D_ATTN_DP, L.D_EP, L.D_W_BYTES, L.D_KV_BYTES, L.D_ACT_BYTES]] = tp, pp, attn_dp, ep, wb, kvb, ab
    row[L.D_DISPATCH_BYTES], row[L.D_TBO] = dispatch, tbo
    return row


def _random_inputs(lib, model):
    arch = pack_architecture(lib.architecture(model))
    n_seqs = float(RNG.integers(1, 300))
    new = 1.0 if RNG.random() < 0.5 else float(RNG.integers(1, 4096))
    past = float(RNG.integers(0, 8192))
    decode = bool(new == 1.0)
    wb, kvb = RNG.choice([0.5625, 1.0, 2.0]), RNG.choice([1.0, 2.0])
    tp = float(RNG.choice([1, 2, 4, 8, 16]))
    return arch, n_seqs, new, past, decode, wb, kvb, 2.0, tp


@pytest.mark.parametrize("model", ["llama-3.1-70b", "deepseek-r1", "gpt-oss-120b", "mixtral-8x7b", "gemma-7b"])
def test_op_costs_and_step_match_naive(lib, model):
    chip = pack_chip(lib.chip("nvidia-h100-sxm"), "fp8")
    flops, nbytes, count, times = (np.zeros(L.N_OPS) for _ in range(4))
    bounds = np.zeros(L.N_OPS, dtype=np.int64)
    bt = np.zeros(3)
    for _ in range(40):
        a, n_seqs, new, past, decode, wb, kvb, ab, tp = _random_inputs(lib, model)
        pp = float(RNG.integers(1, 5))
        moe = a[L.A_N_MOE_LAYERS] > 0
        attn_dp = float(RNG.choice([1, 2, 4, 16])) if moe else 1.0
        ep = float(RNG.choice([1.0, tp * attn_dp, attn_dp])) if moe else 1.0
        ep = min(ep, a[L.A_N_EXPERTS]) if moe else 1.0
        dispatch, tbo = float(RNG.choice([0.0, 1.03125, 0.5625])), float(RNG.integers(0, 2))
        redundant = float(RNG.choice([0, 16])) if moe and ep > 1 else 0.0
        skew = float(RNG.choice([0.0, 0.8])) if moe else 0.0
        dep = _dep(tp, pp, attn_dp, ep, wb, kvb, ab, dispatch, tbo)
        dep[L.D_REDUNDANT_EXPERTS], dep[L.D_ROUTING_SKEW] = redundant, skew
        dequant = float(RNG.choice([0.0, 4.0]))
        dep[L.D_DEQUANT_OPS] = dequant
        c = chip.copy()
        c[L.C_UP_TORUS_DIMS] = RNG.choice([0, 2, 3])
        c[L.C_UP_DOMAIN] = RNG.choice([8, 72, 256])
        ops.op_costs_nb(a, dep, n_seqs, new, past, decode, flops, nbytes, count)
        twin = naive.op_costs(a, n_seqs, new, past, decode, wb, kvb, ab, tp, attn_dp, ep, redundant, skew)
        for i, name in enumerate(L.OP_NAMES):
            if name in twin:
                f, b, cnt = twin[name]
                assert _close(flops[i], f) and _close(nbytes[i], b) and count[i] == cnt, name
            else:
                assert count[i] == 0, name
        total = step_time_nb(a, c, dep, n_seqs, new, past, decode, flops, nbytes, count, times, bounds, bt)
        total2, table = naive.step_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp, ep, attn_dp, dispatch,
                                        tbo, redundant, skew, dequant)
        assert _close(total, total2)
        for i, name in enumerate(L.OP_NAMES):
            if name in table:
                assert _close(times[i], table[name][0]) and L.BOUND_NAMES[bounds[i]] == table[name][1], name
        assert _close(bt.sum(), total)


@pytest.mark.parametrize("model", ["llama-3.1-70b", "deepseek-r1", "gpt-oss-120b", "mixtral-8x7b", "gemma-7b"])
@pytest.mark.parametrize("chip_id,dtype", [("nvidia-h100-sxm", "fp8"), ("groq-lpu-v1", "fp16"), ("cerebras-wse3", "fp16")])
def test_mixed_step_matches_naive(lib, model, chip_id, dtype):
    chip = pack_chip(lib.chip(chip_id), dtype)
    scratch = new_scratch()
    for _ in range(25):
        a, _, _, _, _, wb, kvb, ab, tp = _random_inputs(lib, model)
        pp = float(RNG.integers(1, 5))
        moe = a[L.A_N_MOE_LAYERS] > 0
        attn_dp = float(RNG.choice([1, 2, 4, 16])) if moe or RNG.random() < 0.3 else 1.0
        ep = min(float(RNG.choice([1.0, tp * attn_dp, attn_dp])), a[L.A_N_EXPERTS]) if moe else 1.0
        dispatch, tbo = float(RNG.choice([0.0, 1.03125])), float(RNG.integers(0, 2))
        redundant = float(RNG.choice([0, 16])) if moe and ep > 1 else 0.0
        skew = float(RNG.choice([0.0, 0.8])) if moe else 0.0
        dequant, spec = float(RNG.choice([0.0, 4.0])), float(RNG.choice([0, 0, 3]))
        if chip[L.C_SPATIAL] > 0:   # the spatial twin takes no redundant experts, skew, dequantisation or dispatch dtype
            redundant = skew = dequant = dispatch = 0.0
        dep = _dep(tp, pp, attn_dp, ep, wb, kvb, ab, dispatch, tbo)
        dep[L.D_REDUNDANT_EXPERTS], dep[L.D_ROUTING_SKEW], dep[L.D_DEQUANT_OPS] = redundant, skew, dequant
        dep[L.D_SPEC_TOKENS] = spec
        n_decode = float(RNG.choice([0.0, 0.4, RNG.integers(1, 300)]))
        past_decode = float(RNG.integers(0, 8192))
        chunks = float(RNG.choice([1.0, 2.5]))
        chunk = float(RNG.choice([0.0, RNG.integers(1, 8192)]))
        # the other groups hold up to as much as the busiest
        prompt = chunks * chunk * (1.0 + RNG.uniform(0.0, attn_dp - 1.0))
        past = float(RNG.integers(0, 16384))
        got = mixed_step_time_nb(a, chip, dep, n_decode, past_decode, chunks, chunk, past, prompt, scratch)
        want = naive.mixed_step(a, chip, n_decode, past_decode, chunks, chunk, past, prompt, wb, kvb, ab, tp, pp, ep,
                                attn_dp, dispatch, tbo, redundant, skew, dequant, spec)
        assert _close(got, want), (n_decode, chunks, chunk, prompt, attn_dp)


def test_kv_bytes_per_seq_matches_naive(lib):
    for model in ("gpt-oss-120b", "llama-3.1-8b", "deepseek-r1"):
        a = pack_architecture(lib.architecture(model))
        for ctx in (1.0, 100.0, 128.0, 129.0, 5000.0):
            assert _close(ops.kv_bytes_per_seq_nb(a, ctx, 1.0), naive.kv_bytes_per_seq(a, ctx, 1.0))


@pytest.mark.parametrize("model", ["llama-3.1-70b", "deepseek-r1", "gpt-oss-120b", "llama-2-7b"])
def test_evaluate_matches_naive(lib, model):
    arch = pack_architecture(lib.architecture(model))
    chips = np.stack([pack_chip(lib.chip("nvidia-h100-sxm"), "fp8"), pack_chip(lib.chip("nvidia-h100-sxm"), "bf16")])
    cfgs = []
    for _ in range(60):
        row = np.zeros(L.K_FIELDS)
        row[L.K_CHIP] = RNG.integers(0, 2)
        row[L.K_TP] = RNG.choice([1, 2, 4, 8])
        row[L.K_PP] = RNG.integers(1, 9)
        moe = arch[L.A_N_MOE_LAYERS] > 0
        row[L.K_ATTN_DP] = RNG.choice([1, 2, 8]) if moe else 1
        row[L.K_EP] = RNG.choice([1, row[L.K_TP] * row[L.K_ATTN_DP]]) if moe else 1
        row[L.K_DISPATCH_BYTES] = RNG.choice([0.0, 1.03125])
        row[L.K_TBO] = RNG.integers(0, 2)
        row[L.K_REDUNDANT_EXPERTS] = RNG.choice([0, 32]) if moe and row[L.K_EP] > 1 else 0
        row[L.K_ROUTING_SKEW] = RNG.choice([0.0, 0.6]) if moe else 0.0
        row[L.K_DEPLOY + L.D_DEQUANT_OPS] = RNG.choice([0.0, 2.0, 4.0])   # weight-only quantisation
        if RNG.random() < 0.3:   # speculative decoding: k drafted tokens, acceptance, draft cost, launches, weights
            row[L.K_DEPLOY + np.array([L.D_SPEC_TOKENS, L.D_SPEC_ACCEPT, L.D_SPEC_DRAFT_COST, L.D_SPEC_LAUNCHES,
                                       L.D_SPEC_WEIGHTS])] = (RNG.integers(1, 4), RNG.uniform(0, 0.95),
                                                              RNG.uniform(0.01, 0.2), RNG.integers(0, 4),
                                                              RNG.uniform(0, 0.1))
        row[L.K_BATCH] = RNG.choice([0, 1, 7, 64, 300])
        row[L.K_INPUT_LEN] = RNG.integers(1, 8000)
        row[L.K_OUTPUT_LEN] = RNG.integers(1, 2000)
        row[L.K_W_BYTES] = RNG.choice([0.5625, 1.0, 2.0])
        row[L.K_KV_BYTES] = RNG.choice([1.0, 2.0])
        row[L.K_ACT_BYTES] = 2.0
        row[L.K_REPLICAS] = RNG.integers(1, 4)
        row[L.K_PREFILL_CHUNK] = RNG.choice([0, 2048, 8192])
        cfgs.append(row)
    cfgs = np.array(cfgs)
    out = new_result_matrix(len(cfgs))
    evaluate_nb(arch[None, :], chips, cfgs, out)
    n_fit = 0
    for row, r in zip(cfgs, out):
        c = chips[int(row[L.K_CHIP])]
        twin = naive.evaluate(arch, c, row[L.K_TP], row[L.K_PP], row[L.K_EP], row[L.K_BATCH], row[L.K_INPUT_LEN],
                              row[L.K_OUTPUT_LEN], row[L.K_W_BYTES], row[L.K_KV_BYTES], row[L.K_ACT_BYTES],
                              row[L.K_REPLICAS], row[L.K_PREFILL_CHUNK], row[L.K_ATTN_DP], row[L.K_DISPATCH_BYTES],
                              row[L.K_TBO], row[L.K_REDUNDANT_EXPERTS], row[L.K_ROUTING_SKEW],
                              tuple(row[L.K_DEPLOY + d] for d in (L.D_SPEC_TOKENS, L.D_SPEC_ACCEPT, L.D_SPEC_DRAFT_COST,
                                                                  L.D_SPEC_LAUNCHES, L.D_SPEC_WEIGHTS)),
                              row[L.K_DEPLOY + L.D_DEQUANT_OPS])
        assert r[L.R_MAX_BATCH] == twin["max_batch"]
        assert (r[L.R_FITS] == 1.0) == twin["fits"]
        if twin["fits"]:
            n_fit += 1
            assert r[L.R_BATCH] == twin["batch"]
            assert _close(r[L.R_TTFT_S], twin["ttft_s"])
            assert _close(r[L.R_TPOT_S], twin["tpot_s"])
            assert _close(r[L.R_SYSTEM_TOK_S], twin["system_tok_s"])
            assert _close(r[L.R_PREFILL_SHARE], twin["prefill_share"])
        else:
            assert np.isnan(r[L.R_TPOT_S])
    assert n_fit > 5  # the random draw must exercise the fitting path, not only rejections
