"""Mixture-of-experts serving: expert parallelism against the fabric it runs over, expert load."""

import numpy as np
import pytest

from infersim.analysis.expert_scaling import ep_scaling, scaleout_crossover_bw, with_scaleout_bw
from infersim.kernels import layout as L
from infersim.kernels.expert_load import busiest_rank_load_nb
from infersim.model.configuration import Workload, resolve_precision

# DeepSeek-R1 fp8 weights and KV, 2000-token prompts, 1000 output tokens, 64 sequences per GPU
WORKLOAD = Workload(2000, 1000)
PER_GPU = 64


def _scaling(lib, chip_id, bw=None, widths=(8, 16, 32, 64)):
    chip, arch = lib.chip(chip_id), lib.architecture("deepseek-r1")
    chip = with_scaleout_bw(chip, bw) if bw else chip
    p = resolve_precision(chip, "fp8", "fp8")
    return ep_scaling(chip, arch, p, WORKLOAD, PER_GPU, widths).set_index("ep")["decode_tokens_per_s_per_chip"]


def test_wider_expert_parallelism_decodes_more_per_gpu_inside_an_nvl72_rack(lib):
    # GB200 NVL72: EP8 to EP64 all inside one NVLink domain. Each GPU reads 256 / ep experts' weights
    # per MoE layer (EP8: 32 x 44 M x 1 B = 1.4 GB, EP64: 0.18 GB), so the step shrinks as EP widens
    tok = _scaling(lib, "nvidia-gb200")
    print("\nGB200 NVL72 decode tokens/s per GPU:", tok.round(0).to_dict())
    assert tok[8] < tok[16] < tok[32] < tok[64]


def test_wider_expert_parallelism_across_nodes_pays_on_a_fast_nic_and_not_on_a_slow_one(lib):
    # H200: 8 GPUs per NVLink domain, so EP16 and wider exchange tokens over the NIC. At its 400 Gb/s
    # NIC per GPU, EP32 and EP64 beat EP8; at 100 Gb/s (12.5 GB/s) the exchange dominates and EP8 wins.
    fast = _scaling(lib, "nvidia-h200-sxm")
    slow = _scaling(lib, "nvidia-h200-sxm", bw=12.5e9)
    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    cross = scaleout_crossover_bw(chip, arch, resolve_precision(chip, "fp8", "fp8"), WORKLOAD, PER_GPU, 8, 32)
    print(f"\nH200 decode tokens/s per GPU, 50 GB/s NIC: {fast.round(0).to_dict()}; 12.5 GB/s NIC: "
          f"{slow.round(0).to_dict()}; EP32 beats EP8 above {cross / 1e9:.1f} GB/s per direction")
    assert fast[8] < fast[32] < fast[64]
    assert slow[32] < slow[8] and slow[64] < slow[8]
    assert 12.5e9 < cross < 50e9   # the crossover lies between the two NICs


def test_the_exchange_grows_when_it_leaves_the_domain(lib):
    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    p = resolve_precision(chip, "fp8", "fp8")
    t = ep_scaling(chip, arch, p, WORKLOAD, PER_GPU, (8, 16)).set_index("ep")
    assert not t.loc[8, "spans_domains"] and t.loc[16, "spans_domains"]
    assert t.loc[16, "exchange_share"] > t.loc[8, "exchange_share"]


def _load(ep, tokens, redundant=0.0, skew=0.0, experts=256.0, k=8.0):
    a, dep = np.zeros(L.A_FIELDS), np.zeros(L.D_FIELDS)
    a[L.A_N_EXPERTS], a[L.A_TOPK] = experts, k
    dep[L.D_EP], dep[L.D_REDUNDANT_EXPERTS], dep[L.D_ROUTING_SKEW] = ep, redundant, skew
    return busiest_rank_load_nb(a, dep, tokens)


def test_the_busiest_expert_rank_by_hand():
    # uniform routing, EP2, 1000 tokens x top-8 = 8000 pairs: each rank's count is binomial(8000, 1/2),
    # sd sqrt(8000 / 4) = 44.72; the larger of two normals sits 1/sqrt(pi) = 0.5642 sd above the mean
    # (Blom's plotting position gives Phi^-1(1.625 / 2.25) = 0.5895): 4000 + 0.5895 x 44.72 = 4026.4
    slots, load = _load(2.0, 1000.0)
    assert slots == 128 and load == pytest.approx(4026.36 / 4000, rel=1e-4)


def test_expert_load_imbalance_grows_with_ep_and_shrinks_with_the_batch():
    assert _load(8.0, 4096.0)[1] < _load(64.0, 4096.0)[1] < _load(144.0, 4096.0)[1]
    assert _load(64.0, 65536.0)[1] < _load(64.0, 4096.0)[1]
    assert _load(1.0, 100.0)[1] == 1.0            # one rank holds every expert


def test_redundant_experts_take_the_load_off_a_hot_expert():
    # Zipf-skewed routing (exponent 1): the hottest of 256 experts draws 16 % of the pairs, 42x the
    # mean; on 64 ranks the rank holding it is the busiest. 32 redundant copies (EPLB) split it.
    plain = _load(64.0, 65536.0, skew=1.0)
    eplb = _load(64.0, 65536.0, redundant=32.0, skew=1.0)
    assert eplb[1] < plain[1] and eplb[0] == 5 and plain[0] == 4   # 288 / 64 = 4.5 -> 5 slots on the busiest


def _deepseek_on_h200(lib, arrivals, mapping=None):
    from infersim.model.configuration import Mapping
    from infersim.model.serving import ServingModel
    from infersim.specs.traffic import LengthDistribution

    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    return ServingModel(chip, arch, resolve_precision(chip, "fp8", "fp8"), mapping or Mapping(tp=8),
                        LengthDistribution(mean_tokens=1024), LengthDistribution(mean_tokens=8192),
                        prompt_arrivals=arrivals)


def test_whole_prompts_leave_most_iterations_decode_only(lib):
    # 64 sequences decoding 8192 tokens each: 64 / 8192 = 0.0078 prompts arrive per iteration. Whole
    # prompts: e^-0.0078 of the iterations only decode, one in ~128 carries a 1024-token prompt, so
    # the mean is T(64, 0) + 0.0078 x (T(64, 1024) - T(64, 0)) + O(lambda^2). Spread: every
    # iteration carries 8 prompt tokens, and with them the experts those 8 tokens touch.
    whole, spread = _deepseek_on_h200(lib, "whole"), _deepseek_on_h200(lib, "spread")
    t0, t1 = whole.iteration_s(64.0, 0.0), whole.iteration_s(64.0, 1024.0)
    lam = 64.0 / 8192.0
    mean = whole.mean_iteration_s(64.0, 64.0 * 1024.0 / 8192.0)
    assert mean == pytest.approx(t0 + lam * (t1 - t0), rel=2e-3)
    assert mean < spread.mean_iteration_s(64.0, 8.0) == spread.iteration_s(64.0, 8.0)


def test_many_prompts_per_iteration_are_the_spread_model(lib):
    whole, spread = _deepseek_on_h200(lib, "whole"), _deepseek_on_h200(lib, "spread")
    assert whole.mean_iteration_s(256.0, 10 * 1024.0) == spread.mean_iteration_s(256.0, 10 * 1024.0)


def _qwen3_on_h200(lib, input_tokens, attn_dp):
    from infersim.model.configuration import Mapping
    from infersim.model.serving import ServingModel
    from infersim.specs.traffic import LengthDistribution

    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("qwen3-30b-a3b")
    return ServingModel(chip, arch, resolve_precision(chip, "fp8", "fp8"),
                        Mapping(tp=1, attn_dp=attn_dp, ep=attn_dp), LengthDistribution(mean_tokens=input_tokens),
                        LengthDistribution(mean_tokens=1024), token_budget=8192)


def test_attention_groups_take_their_own_prompts_by_hand(lib, monkeypatch):
    # 2 attention groups, 8192-token prompts, an 8192-token budget per group: a prompt is one whole
    # iteration of its group. 0.2 prompts arrive per iteration, 0.1 per group, so a group prefills in
    # w = 0.1 of the iterations (sum of k p_k for Poisson(0.1)), at 8192 tokens. Iteration time here:
    # 0.05 s + 1e-5 s x the busiest group's prompt tokens + 1e-6 s x all prompt tokens.
    # P(no group prefills) = 0.9^2 = 0.81: 0.05 s. Otherwise (0.19) the busiest group has 8192 and the
    # other its mean given <= 8192, 0.1 x 8192: 0.05 + 0.08192 + 1e-6 x 8192 x 1.1 = 0.1409312 s.
    # Mean: 0.81 x 0.05 + 0.19 x 0.1409312 = 0.067276928 s. (The replica-wide budget put both groups'
    # prompts on one: 0.05 + 0.2 x 8192 x 1.1e-5 = 0.0680224 s.)
    m = _qwen3_on_h200(lib, 8192, 2)

    def fake(running, prompt_tokens, group_tokens=None, past=None):
        return 0.05 + 1e-5 * (prompt_tokens if group_tokens is None else group_tokens) + 1e-6 * prompt_tokens

    monkeypatch.setattr(m, "iteration_s", fake)
    assert m.mean_iteration_s(10.0, 0.2 * 8192) == pytest.approx(0.067276928, rel=1e-12)


def test_a_lone_long_prompt_takes_its_groups_budget_per_iteration(lib):
    # Qwen3-30B-A3B on 4 H200s in 4 attention groups, an 8192-token budget per group, nothing else
    # running: an 11808-token prompt lives in one group and takes ceil(11808 / 8192) = 2 iterations,
    # 8192 tokens from position 0, then 3616 after them; the other three groups idle. (The budget of
    # the whole replica, 4 x 8192, took it in one 11808-token iteration.)
    from infersim.kernels.mixed_step import mixed_step_time_nb, new_scratch

    m = _qwen3_on_h200(lib, 11808, 4)
    s, past_d = new_scratch(), m._decode_past()
    iterations = [mixed_step_time_nb(m._a, m._c, m._dep, 0.0, past_d, 1.0, chunk, past, chunk, s)
                  for chunk, past in ((8192.0, 0.0), (3616.0, 8192.0))]
    want = sum(iterations) + 2 * m.overhead + m.prefill_overhead
    assert m._prefill_service_s(11808.0, 0.0) == pytest.approx(want, rel=1e-12)
    # one group's chunk costs less than the whole prompt in one iteration, but two cost more
    one_go = mixed_step_time_nb(m._a, m._c, m._dep, 0.0, past_d, 1.0, 11808.0, 0.0, 11808.0, s)
    assert iterations[0] < one_go < sum(iterations) + m.overhead
    # at a trickle of requests TTFT is that prefill (the queue and the slot wait vanish)
    assert m.at_rate(1e-4).ttft_mean_s == pytest.approx(want, rel=1e-2)


def test_attention_dp_spreads_prompts_and_the_busiest_group_sets_the_time(lib):
    # 8 prompts of 8192 tokens: one group takes them in 8 iterations; 4 groups, 2 each, in 2
    # iterations of 4 x 8192 tokens, each as long as one group's 8192 tokens plus the routed experts
    # of the other three groups' tokens
    one, four = _qwen3_on_h200(lib, 8192, 1), _qwen3_on_h200(lib, 8192, 4)
    assert one.group_loads(8.0)[8192.0] == pytest.approx(8.0, rel=1e-12)      # E[k] iterations per iteration
    assert four.group_loads(2.0)[8192.0] == pytest.approx(2.0, rel=1e-12)
    t_group = four.iteration_s(0.0, 8192.0, 8192.0)
    t_all = four.iteration_s(0.0, 4 * 8192.0, 8192.0)
    assert t_group < t_all < 4 * t_group
    # a 32768-token prompt under attention DP: chunks of the group's budget, never one of 32768
    long = _qwen3_on_h200(lib, 32768, 4)
    assert long.group_loads(0.01) == pytest.approx({8192.0: 4 * 0.01}, rel=1e-12)


def test_a_mixed_iteration_reads_each_expert_once(lib):
    # 64 decoding sequences and a 1024-token prompt chunk: the chunk touches every expert, so the
    # mixed iteration reads the routed experts once; apart, the decode step reads 222 of 256 and the
    # prefill all 256 again
    m = _deepseek_on_h200(lib, "whole")
    mixed = m.iteration_s(64.0, 1024.0) - m.overhead
    apart = (m.iteration_s(64.0, 0.0) - m.overhead) + (m.iteration_s(0.0, 1024.0) - m.overhead)
    assert mixed < apart


def test_prompts_are_prefilled_in_batches_up_to_the_token_budget(lib):
    # Llama-3.1-70B fp8 on 4 H100s, 1024-token prompts: with an 8192-token budget 8 prompts share each
    # prefill pass (one read of the weights), so a prompt keeps the replica busy for less than alone;
    # TTFT (one prompt, no queue) does not depend on the budget
    from infersim.model.configuration import Mapping, Workload
    from infersim.model.evaluate import evaluate

    chip, arch = lib.chip("nvidia-h100-sxm"), lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    alone = evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256, prefill_chunk=1024), batch=64)
    batched = evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256, prefill_chunk=8192), batch=64)
    assert batched.ttft_s == pytest.approx(alone.ttft_s, rel=1e-12)
    assert batched.prefill_time_share < alone.prefill_time_share
    assert batched.system_tokens_per_s > alone.system_tokens_per_s


def test_mtp_speculation_by_hand(lib):
    # DeepSeek-R1's one MTP module drafts 1 token accepted with p = 0.85 (its model file, from the V3
    # report): 1 + 0.85 = 1.85 tokens per step. A step is the verify pass over 2 tokens per sequence
    # plus the draft (one layer: 1/61 of a one-token step) plus one step overhead.
    from infersim.kernels.step import step_time_nb
    from infersim.model.configuration import Mapping, Workload, deployment_row
    from infersim.model.evaluate import evaluate
    from infersim.model.packing import pack_architecture, pack_chip
    from infersim.model.speculative import resolve_speculation

    arch, chip = lib.architecture("deepseek-r1"), lib.chip("nvidia-h200-sxm")
    spec = resolve_speculation(lib, arch, "mtp")
    assert (spec.draft_tokens, spec.acceptance, spec.tokens_per_step) == (1, 0.85, pytest.approx(1.85))
    assert spec.draft_cost == pytest.approx(1 / 61) and "deepseek-r1.toml" in spec.acceptance_source
    p = resolve_precision(chip, "fp8", "fp8")
    m, batch = Mapping(tp=8), 64
    r = evaluate(chip, arch, p, m, Workload(1024, 1025, speculation=spec), batch=batch)
    a, c, dep = pack_architecture(arch), pack_chip(chip, "fp8"), deployment_row(p, m)
    scratch = [np.zeros(L.N_OPS) for _ in range(4)] + [np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)]
    one = step_time_nb(a, c, dep, 64.0, 1.0, 1536.0, True, *scratch)
    verify = step_time_nb(a, c, dep, 64.0, 2.0, 1536.0, True, *scratch)
    overhead = chip.efficiency.step_overhead_s
    assert r.tpot_s == pytest.approx((verify + one / 61 + overhead) / 1.85, rel=1e-9)


def test_speculation_mistakes_say_how_to_fix_them(lib):
    from infersim.errors import InfersimError
    from infersim.model.speculative import resolve_speculation

    with pytest.raises(InfersimError, match="no multi-token-prediction module"):
        resolve_speculation(lib, lib.architecture("llama-3.1-70b"), "mtp")
    with pytest.raises(InfersimError, match="give --acceptance"):
        resolve_speculation(lib, lib.architecture("llama-3.1-70b"), "llama-3.1-8b")
    with pytest.raises(InfersimError, match="has 1 MTP module"):
        resolve_speculation(lib, lib.architecture("deepseek-r1"), "mtp", draft_tokens=3)


def test_mtp_pays_least_where_drafted_tokens_touch_more_experts(lib):
    # DeepSeek-R1 on 8 x H200 (tp8, memory bound at these batches): at 8 sequences a decode step's 64
    # token-expert pairs touch ~57 of 256 experts and the verify pass's 128 pairs ~100, so checking a
    # drafted token reads nearly twice the expert weights; at 256 sequences every expert is read
    # anyway and MTP pays close to its 1.85 tokens per step
    from infersim.model.configuration import Mapping, Workload
    from infersim.model.evaluate import evaluate
    from infersim.model.speculative import resolve_speculation

    arch, chip = lib.architecture("deepseek-r1"), lib.chip("nvidia-h200-sxm")
    p, spec = resolve_precision(chip, "fp8", "fp8"), resolve_speculation(lib, arch, "mtp")

    def gain(batch):
        plain = evaluate(chip, arch, p, Mapping(tp=8), Workload(1024, 1024), batch=batch).tpot_s
        return plain / evaluate(chip, arch, p, Mapping(tp=8), Workload(1024, 1024, speculation=spec), batch=batch).tpot_s

    assert 1.0 < gain(8) < gain(256) and 1.5 < gain(256) < 1.85


def test_a_decode_pool_of_144_h800s_spreads_the_experts_over_all_of_them(lib):
    # DeepSeek's decode unit: 18 H800 nodes, KV length 4,989 (input + (output - 1) / 2), 20 tokens/s per
    # user. Every GPU then reads 288 / 144 = 2 expert slots per MoE layer instead of 288 / 16 = 18 at
    # EP16, so the widest expert parallelism holds the most sequences under the target; pure tensor
    # parallelism (every GPU reading every expert it shares) is far behind
    from infersim.analysis.expert_scaling import decode_pool
    from infersim.model.configuration import Workload

    chip, arch = lib.chip("nvidia-h800"), lib.architecture("deepseek-r1")
    t = decode_pool(chip, arch, resolve_precision(chip, "fp8", "fp8"), Workload(4489, 1001), 144, max_tpot_s=0.050,
                    redundant_experts=32)
    print("\n" + t.head(4).to_string())
    best = t.iloc[0]
    assert best["mapping"] == "tp1 dp144 ep144+32" and best["tpot_s"] <= 0.050
    tp_only = t[~t["mapping"].str.contains("ep")]
    assert tp_only.empty or tp_only["decode_tokens_per_s_per_chip"].max() < 0.5 * best["decode_tokens_per_s_per_chip"]
    # at a fixed batch per chip the same mapping's rate is batch / TPOT
    fixed = decode_pool(chip, arch, resolve_precision(chip, "fp8", "fp8"), Workload(4489, 1001), 144,
                        batch_per_chip=64, redundant_experts=32).set_index("mapping")
    row = fixed.loc["tp1 dp144 ep144+32"]
    assert row["decode_tokens_per_s_per_chip"] == pytest.approx(64 / row["tpot_s"], rel=1e-12)


def test_a_decode_pool_needs_one_target(lib):
    from infersim.analysis.expert_scaling import decode_pool
    from infersim.errors import InfersimError
    from infersim.model.configuration import Workload

    chip, arch = lib.chip("nvidia-h800"), lib.architecture("deepseek-r1")
    with pytest.raises(InfersimError, match="either a TPOT target or a batch per chip"):
        decode_pool(chip, arch, resolve_precision(chip, "fp8", "fp8"), Workload(1000, 100), 16)


def test_prefill_pool_tokens_by_hand_and_cache_hits(lib):
    # one pass of 16,384 new tokens per GPU on tp1 dp32 ep32: each attention group (one GPU) holds
    # floor(16,384 / 2,000) = 8 prompts, 32 x 8 = 256 prompts in the pass, 16,000 tokens per GPU, in the
    # step time plus one prefill overhead. A cached prefix is attended to, so it never speeds a pass up
    from infersim.analysis.expert_scaling import prefill_pool, prefill_tokens_per_s_per_chip
    from infersim.kernels.step import step_time_nb
    from infersim.model.configuration import Mapping, deployment_row
    from infersim.model.packing import pack_architecture, pack_chip

    chip, arch = lib.chip("nvidia-h100-sxm"), lib.architecture("deepseek-r1")
    p = resolve_precision(chip, "fp8", "fp8")
    m = Mapping(tp=1, attn_dp=32, ep=32, redundant_experts=32)
    scratch = [np.zeros(L.N_OPS) for _ in range(4)] + [np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)]
    step = step_time_nb(pack_architecture(arch), pack_chip(chip, "fp8"), deployment_row(p, m), 256.0, 2000.0, 0.0,
                        False, *scratch)
    tok = prefill_tokens_per_s_per_chip(chip, arch, p, m, 2000, 0, 16384)
    assert tok == pytest.approx(16000 / (step + chip.efficiency.prefill_overhead_s), rel=1e-12)
    assert prefill_tokens_per_s_per_chip(chip, arch, p, m, 2000, 6000, 16384) <= tok
    assert np.isnan(prefill_tokens_per_s_per_chip(chip, arch, p, m, 20000, 0, 16384))   # no whole prompt fits
    t = prefill_pool(chip, arch, p, 32, 2000, 0, 16384, redundant_experts=32)
    assert t.iloc[0]["prefill_tokens_per_s_per_chip"] >= tok * (1 - 1e-12)
