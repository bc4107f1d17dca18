"""Continuous batching under load: the limits the queueing model must respect."""

import math

import numpy as np
import pytest

from infersim.kernels import layout as L
from infersim.kernels.mixed_step import mixed_step_time_nb, new_scratch
from infersim.kernels.step import step_time_nb
from infersim.errors import InfersimError
from infersim.model.configuration import Mapping, Workload, resolve_precision
from infersim.model.evaluate import evaluate
from infersim.model.packing import pack_architecture, pack_chip
from infersim.model.serving import ServingModel, best_goodput, lognormal_quantile
from infersim.specs.traffic import LengthDistribution


@pytest.fixture(scope="module")
def setup(lib):
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    inputs, outputs = LengthDistribution(mean_tokens=1024), LengthDistribution(mean_tokens=256)
    return chip, arch, p, ServingModel(chip, arch, p, Mapping(tp=4), inputs, outputs)


def test_mixed_iteration_reduces_to_the_step_model(lib):
    a = pack_architecture(lib.architecture("llama-3.1-70b"))
    c = pack_chip(lib.chip("nvidia-h100-sxm"), "fp8")
    s = new_scratch()
    f, b, cnt, t = (np.zeros(L.N_OPS) for _ in range(4))
    bounds, bt = np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)
    dep = np.zeros(L.D_FIELDS)
    dep[[L.D_TP, L.D_PP, L.D_ATTN_DP, L.D_EP, L.D_W_BYTES, L.D_KV_BYTES, L.D_ACT_BYTES]] = 4.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0
    # a pure prefill iteration is the prefill step; a pure decode one the decode step
    assert mixed_step_time_nb(a, c, dep, 0.0, 0.0, 1.0, 1024.0, 0.0, 1024.0, s) == pytest.approx(
        step_time_nb(a, c, dep, 1.0, 1024.0, 0.0, False, f, b, cnt, t, bounds, bt), rel=1e-12)
    assert mixed_step_time_nb(a, c, dep, 64.0, 1000.0, 1.0, 0.0, 0.0, 0.0, s) == pytest.approx(
        step_time_nb(a, c, dep, 64.0, 1.0, 1000.0, True, f, b, cnt, t, bounds, bt), rel=1e-4)
    # mixing shares the weight read: cheaper than the two steps run apart
    both = mixed_step_time_nb(a, c, dep, 64.0, 1000.0, 1.0, 512.0, 0.0, 512.0, s)
    apart = (step_time_nb(a, c, dep, 64.0, 1.0, 1000.0, True, f, b, cnt, t, bounds, bt)
             + step_time_nb(a, c, dep, 1.0, 512.0, 0.0, False, f, b, cnt, t, bounds, bt))
    assert both < apart


def test_low_load_limits(setup):
    chip, arch, p, model = setup
    r = model.at_rate(1e-3)
    single = evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256), batch=1)
    # TTFT ~ one prefill (+ the per-step overhead of the iteration that carries it); TPOT ~ batch-1 step
    assert r.ttft_mean_s == pytest.approx(single.ttft_s + chip.efficiency.step_overhead_s, rel=0.01)
    assert r.tpot_mean_s == pytest.approx(single.tpot_s, rel=0.02)
    assert r.running_batch < 0.1


def test_p99_grows_without_bound_near_capacity(setup):
    _, _, _, model = setup
    cap = model.capacity_per_s()
    assert cap > 0
    p99 = [model.at_rate(f * cap).ttft_p99_s for f in (0.1, 0.5, 0.9, 0.99)]
    assert all(b >= a for a, b in zip(p99, p99[1:]))  # never falls as load grows
    past = model.at_rate(cap * 1.05)
    assert not past.stable and math.isinf(past.ttft_p99_s) and math.isinf(past.tpot_mean_s) and past.reason


def test_goodput_never_exceeds_capacity_or_offline_throughput(setup):
    chip, arch, p, model = setup
    cap = model.capacity_per_s()
    good = model.goodput_per_s(0.5, 0.05)
    assert 0 < good <= cap
    r = model.at_rate(good)
    assert r.ttft_p99_s <= 0.5 and r.tpot_p99_s <= 0.05
    offline = evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256))
    # the serving model shares weight reads between prefill chunks and decode: it may reach a little
    # more than the offline formula, which charges every prefill apart, but not much more
    assert good * 256 <= offline.system_tokens_per_s * 1.10


def test_pipeline_stages_keep_micro_batches_in_flight(setup):
    """PP2 keeps two micro-batches in flight: its capacity is the offline pipelined throughput
    (not half of it, as when one batch walks both stages alone), and one micro-batch of B/2
    sequences sets the TPOT."""
    chip, arch, p, _ = setup
    inputs, outputs = LengthDistribution(mean_tokens=1024), LengthDistribution(mean_tokens=256)
    pp2 = ServingModel(chip, arch, p, Mapping(tp=2, pp=2), inputs, outputs)
    offline = evaluate(chip, arch, p, Mapping(tp=2, pp=2), Workload(1024, 256))
    cap_tokens = pp2.capacity_per_s() * 256
    # paged KV lets the serving model hold more sequences than the static batch (whose sequences
    # all reserve 1024 + 256 tokens): allow for that share of extra running sequences
    paged = pp2.max_batch / offline.batch
    assert paged > 1.0
    assert 0.85 * offline.system_tokens_per_s <= cap_tokens <= 1.10 * paged * offline.system_tokens_per_s
    r = pp2.at_rate(0.5 * pp2.capacity_per_s())
    prompt_tokens = r.rate_per_s * 1024 * r.tpot_mean_s         # lambda I T per iteration, one replica
    assert r.tpot_mean_s == pytest.approx(pp2._micro_batch_s(r.running_batch / 2, prompt_tokens / 2), rel=1e-6)


def test_an_arrival_waits_for_the_iteration_in_flight(setup):
    """Half an iteration on average once the engine is always busy (B >> 1): TTFT mean is at
    least T/2 + one prefill iteration, and the p50 adds exactly T/2 to the queue-free case, whose
    iteration carries the median prompt plus the lambda I T prompt tokens any iteration carries."""
    _, _, _, model = setup
    r = model.at_rate(0.8 * model.capacity_per_s())
    assert r.running_batch > 20                      # 1 - exp(-B) = 1 to 1e-9
    others = r.rate_per_s * 1024 * r.tpot_mean_s     # one replica (TP4): lambda I T
    alone = model._prefill_service_s(lognormal_quantile(model.inputs, 0.5), r.running_batch)
    service = model._prefill_service_s(lognormal_quantile(model.inputs, 0.5), r.running_batch, others)
    assert service > alone
    assert r.prefill_utilisation < 0.5               # no queue at the median: wait_q(0.5) = 0
    assert r.ttft_p50_s == pytest.approx(service + 0.5 * r.tpot_mean_s, rel=1e-9)
    assert r.ttft_mean_s >= 1.5 * r.tpot_mean_s


def test_p99_tpot_carries_the_slow_swings_of_load_by_hand(lib, monkeypatch):
    """A stand-in engine whose iteration takes a + b x (sequences decoding), whatever the prompt:
    a = 10 ms, b = 0.1 ms. At 50 requests/s of 100 output tokens, g(T) = a + b lambda O T, so
    T = a / (1 - b lambda O) = 10 / (1 - 0.5) = 20 ms and B = lambda O T = 100 running.
    Elasticity eps = d ln g / d ln T = b lambda O = 0.5; var B = B / (1 - eps) = 200;
    sd(T) / T = eps / sqrt(B (1 - eps)) = 0.5 / sqrt(50) = 0.07071; no prompt jitter (b ignores prompts).
    p99 TPOT = 20 ms x (1 + 2.3263 x 0.07071) = 23.290 ms."""
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-8b")
    model = ServingModel(chip, arch, resolve_precision(chip, "fp8", "fp8"), Mapping(),
                         LengthDistribution(mean_tokens=100), LengthDistribution(mean_tokens=100))
    assert model.max_batch > 100
    monkeypatch.setattr(model, "_micro_batch_s", lambda decoding, prefill, layout=None: 0.010 + 1e-4 * decoding)
    r = model.at_rate(50.0)
    assert r.tpot_mean_s == pytest.approx(0.020, rel=1e-6)
    assert r.running_batch == pytest.approx(100.0, rel=1e-6)
    assert r.tpot_p99_s == pytest.approx(0.023290, rel=1e-4)
    # With T = a / (1 - eps) and B = lambda O T, B (1 - eps) = lambda O a, so sd(T) / T = eps / sqrt(lambda O a):
    # 1 request/s: eps = 0.01, sd = 0.01 / sqrt(1) -> p99 / mean = 1.02326;
    # 50 requests/s: 0.5 / sqrt(50) = 0.07071 -> 1.16450 (as above);
    # 90 requests/s: eps = 0.9, lambda O a = 90, sd = 0.9 / sqrt(90) = 0.09487 -> 1.22070.
    # The ratio grows with load while the mean itself diverges toward capacity (100 requests/s).
    ratios = [model.at_rate(x).tpot_p99_s / model.at_rate(x).tpot_mean_s for x in (1.0, 50.0, 90.0)]
    assert ratios == pytest.approx([1.023263, 1.164496, 1.220698], rel=1e-4)


def test_kv_memory_is_paged(lib):
    """A running sequence holds its prompt and what it has generated so far: the cap on running
    sequences is the one of a static batch whose outputs are E[O^2] / (2 E[O]) long, 128 for a
    fixed 256-token output and 128 x (1 + 0.8^2) = 209.92 -> 210 with cv 0.8."""
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    fixed = ServingModel(chip, arch, p, Mapping(tp=4), LengthDistribution(mean_tokens=1024),
                         LengthDistribution(mean_tokens=256))
    spread = ServingModel(chip, arch, p, Mapping(tp=4), LengthDistribution(mean_tokens=1024),
                          LengthDistribution(kind="lognormal", mean_tokens=256, cv=0.8))
    held = evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 128)).max_batch
    assert fixed.max_batch == held
    assert held > evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256)).max_batch
    assert spread.max_batch == evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 210)).max_batch


def test_saturated_engine_by_hand(lib, monkeypatch):
    """Offline: the engine full. Stand-in iteration 10 ms + 0.1 ms per decoding sequence + 0.01 ms
    per prompt token, 100-token prompts and outputs, 300 sequences at most (max_running).
    Budget cap 8192 x 100 / 200 = 4096 > 300, so running = 300; the replacing prompts are
    300 x 100 / 100 = 300 tokens: T = 10 + 30 + 3 = 43 ms. With a 400-token budget the prompts
    that keep it full fill it at 400 x 100 / 200 = 200 sequences: T = 10 + 20 + 2 = 32 ms."""
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-8b")
    p = resolve_precision(chip, "fp8", "fp8")
    for budget, running, t in ((8192, 300.0, 0.043), (400, 200.0, 0.032)):
        model = ServingModel(chip, arch, p, Mapping(), LengthDistribution(mean_tokens=100),
                             LengthDistribution(mean_tokens=100), token_budget=budget, max_running=300)
        monkeypatch.setattr(model, "_micro_batch_s", lambda d, pf, layout=None: 0.010 + 1e-4 * d + 1e-5 * pf)
        assert model.saturated() == pytest.approx((running, t), rel=1e-12)
        # a little below saturation the serving model is stable, a little above it is not
        lam = running / (100 * t)
        assert model.at_rate(0.99 * lam).stable and not model.at_rate(1.01 * lam).stable


def test_dispatch_window_by_hand(lib, monkeypatch):
    """A front end that gathers arrivals for W = 0.3 s and hands each gathering to one replica.
    Stand-in iteration 20 ms + 0.1 ms per prompt token, whatever the decoding count (no load
    swing), prompts fixed at 200 tokens. At 10 requests/s a gathering holds 3 prompts = 600
    tokens, prefilled in one iteration of 20 + 60 = 80 ms, all finishing together. The running
    count B = lambda O T = 10 x 50 x T with T = 20 + 0.1 x lambda I T (2,000 prompt tokens/s):
    T = 20 / (1 - 0.2) = 25 ms, B = 12.5, busy = 1 - exp(-12.5). Prompt-token utilisation
    rho = lambda I T / (budget - B) = 50 / 8179.5, so the queue wait is rho / (1 - rho) x s x 1 / 2
    with s the one-prompt service 20 + 0.1 x (200 + 50) = 45 ms. Both services add the chip's
    prefill overhead po (0.3 ms in the calibrated H100 file; the test reads it from there).
    Mean TTFT = wait + busy x T / 2 + W / 2 + 80 ms + po = 0.000139 + 0.0125 + 0.15 + 0.08 + 0.0003 s."""
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-8b")
    p = resolve_precision(chip, "fp8", "fp8")
    model = ServingModel(chip, arch, p, Mapping(), LengthDistribution(mean_tokens=200),
                         LengthDistribution(mean_tokens=50), dispatch_window_s=0.3)
    monkeypatch.setattr(model, "_micro_batch_s", lambda d, pf, layout=None: 0.020 + 1e-4 * pf)
    r = model.at_rate(10.0)
    assert r.tpot_mean_s == pytest.approx(0.025, rel=1e-6)
    rho = 50.0 / (8192 - 12.5)
    po = chip.efficiency.prefill_overhead_s
    wait = rho / (1 - rho) * (0.045 + po) / 2
    busy = 1 - math.exp(-12.5)
    assert r.ttft_mean_s == pytest.approx(wait + busy * 0.0125 + 0.15 + 0.080 + po,
                                          rel=1e-6)
    # p99 = mean without the queue + Z99 sd. The stand-in ignores the decoding count: no load swing.
    # Gathered tokens sd = sqrt(3 x 200^2) = 346.41, so the service sd = 0.1 ms x 346.41 = 34.64 ms;
    # window sd^2 = 0.3^2 / 12 = 0.0075; slot sd^2 = (busy x 25 ms)^2 / 12 = 5.208e-5;
    # sd = sqrt(0.0012 + 0.0075 + 0.0000521) = 0.093552 s; rho < 0.01 so the queue adds nothing at p99.
    sd = math.sqrt((1e-4 * math.sqrt(3) * 200) ** 2 + 0.3 ** 2 / 12 + (busy * 0.025) ** 2 / 12)
    assert sd == pytest.approx(0.093552, rel=1e-4)
    assert r.ttft_p99_s == pytest.approx(r.ttft_mean_s - wait + 2.326348 * sd, rel=1e-6)  # z of the 99th percentile
    direct = ServingModel(chip, arch, p, Mapping(), LengthDistribution(mean_tokens=200),
                          LengthDistribution(mean_tokens=50))
    monkeypatch.setattr(direct, "_micro_batch_s", lambda d, pf, layout=None: 0.020 + 1e-4 * pf)
    assert direct.at_rate(10.0).ttft_mean_s < r.ttft_mean_s - 0.15
    with pytest.raises(InfersimError, match="dispatch window"):
        ServingModel(chip, arch, p, Mapping(), LengthDistribution(mean_tokens=200),
                     LengthDistribution(mean_tokens=50), dispatch_window_s=-1.0)


def test_best_goodput_prefers_more_per_chip(setup):
    chip, arch, p, _ = setup
    inputs, outputs = LengthDistribution(mean_tokens=1024), LengthDistribution(mean_tokens=256)
    g = best_goodput(chip, arch, p, [Mapping(tp=2), Mapping(tp=4), Mapping(tp=8)], inputs, outputs, 2.0, 0.2)
    for m in (Mapping(tp=2), Mapping(tp=4), Mapping(tp=8)):
        other = ServingModel(chip, arch, p, m, inputs, outputs).goodput_per_s(2.0, 0.2)
        assert g.rate_per_s / g.mapping.chips >= other / m.chips * (1 - 1e-3)


def test_lognormal_quantiles():
    d = LengthDistribution(kind="lognormal", mean_tokens=1000, cv=1.0)
    # sigma^2 = ln 2, mu = ln 1000 - ln 2 / 2: median = 1000 / sqrt 2 = 707.1
    assert lognormal_quantile(d, 0.5) == pytest.approx(1000 / math.sqrt(2), rel=1e-9)
    assert lognormal_quantile(d, 0.99) > 3 * lognormal_quantile(d, 0.5)
    assert lognormal_quantile(LengthDistribution(mean_tokens=50), 0.99) == 50


def test_kv_transfer_by_hand(lib):
    from infersim.model.pools import kv_transfer_s
    # Llama-3.1-70B fp8 KV: 80 layers x 2 x 8 heads x 128 x 1 B = 163,840 B per token; 1,000 tokens =
    # 163.84 MB over H100's 50 GB/s NIC at its interconnect efficiency, plus the NIC latency
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    expected = chip.interconnect.scaleout_latency_s + 163_840_000 / (50e9 * chip.efficiency.interconnect)
    assert kv_transfer_s(arch, p, 1000.0, chip, chip) == pytest.approx(expected, rel=1e-9)


def test_disaggregating_onto_the_same_chip_costs_about_the_same(lib):
    from infersim.analysis.serving_split import compare_serving
    t = lib.traffic("chat")
    table, _ = compare_serving(lib, "llama-3.1-70b", ["nvidia-b200"], ["nvidia-b200"], t.input, t.output,
                               "fp8", "fp8", 0.45, 0.04, lib.budget("central-2025"))
    co = table[table["serving"] == "co-located"].iloc[0]
    dis = table[table["serving"] == "disaggregated"].iloc[0]
    # the same silicon split in two pools does the same work: within 15 % of the co-located cost
    assert dis["usd_per_mtok"] == pytest.approx(co["usd_per_mtok"], rel=0.15)
    assert dis["ttft_p99_s"] <= 0.45 and dis["tpot_p99_s"] <= 0.04 + 1e-9
    assert 0 < dis["prefill_share_of_chips"] < 1


def test_decode_pool_has_no_prefill_interference(lib):
    from infersim.model.pools import decode_capacity
    chip = lib.chip("nvidia-h200-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    t = lib.traffic("chat")
    loose, tight = (decode_capacity(chip, arch, p, Mapping(), t.input, t.output, x) for x in (0.08, 0.03))
    assert loose.rate_per_s > tight.rate_per_s > 0  # a looser TPOT target admits more requests
    assert tight.tpot_p99_s <= 0.03


def test_speculative_decoding(setup, lib):
    from infersim.model.speculative import speculative_decode
    chip, arch, p, _ = setup
    w = Workload(1024, 256)
    # acceptance 0.5, k = 2: expected tokens per step (1 - 0.5^3) / (1 - 0.5) = 0.875 / 0.5 = 1.75
    sp = speculative_decode(chip, arch, p, Mapping(tp=4), w, 1, 2, 0.5)
    assert sp.tokens_per_step == pytest.approx(1.75)
    # with nothing accepted, speculation only adds work
    none = speculative_decode(chip, arch, p, Mapping(tp=4), w, 1, 1, 0.0)
    assert none.tokens_per_step == 1.0 and none.speedup < 1
    # memory-bound decode: verifying k + 1 tokens costs little more than one, so a good draft helps
    good = speculative_decode(chip, arch, p, Mapping(tp=4), w, 1, 3, 0.8, lib.architecture("llama-3.1-8b"))
    assert good.speedup > 1.3
    # a faster (MTP) draft beats a separate 8B draft at the same acceptance
    mtp = speculative_decode(chip, arch, p, Mapping(tp=4), w, 1, 3, 0.8)
    assert mtp.tpot_s < good.tpot_s
    with pytest.raises(Exception, match="acceptance rate"):
        speculative_decode(chip, arch, p, Mapping(tp=4), w, 1, 3, 1.0)


def test_length_quantiles_of_any_level():
    """lognormal_quantile at any level: the median is mean / sqrt(1 + cv^2) (mean 1000, cv 1:
    1000 / sqrt 2 = 707.1); levels increase; 0 and 1 are refused."""
    from infersim.model.serving import lognormal_quantile
    from infersim.specs.traffic import LengthDistribution

    d = LengthDistribution(kind="lognormal", mean_tokens=1000.0, cv=1.0)
    assert lognormal_quantile(d, 0.5) == pytest.approx(1000 / math.sqrt(2), rel=1e-12)
    qs = [lognormal_quantile(d, q) for q in (0.1, 0.5, 0.9, 0.99, 0.999)]
    assert qs == sorted(qs)
    for bad in (0.0, 1.0):
        with pytest.raises(InfersimError):
            lognormal_quantile(d, bad)


def test_a_mixed_iteration_pads_each_expert_to_the_row_tile_once(lib):
    # DeepSeek-R1 on one (idealised) GPU: no parallelism, so every expert sits on it; memory and overlap
    # made free so that each operator is its compute. 64 decode tokens alone touch
    # 256 x (1 - (1 - 8/256)^64) = 222.5 experts, 512 pairs padded to 222.5 x 16 = 3560 rows: tile
    # efficiency 512 / 3560 = 0.144. Beside a 1024-token prompt chunk (8704 pairs over all 256 experts,
    # >= 16 rows each) the same rows ride in the chunk's tiles: the decode tokens add only their own
    # FLOPs, so the decode part costs (1 / 0.144 - 1) x its expert FLOP time less mixed than alone.
    from infersim.kernels.operators import grouped_gemm_efficiency_nb, op_costs_nb

    a = pack_architecture(lib.architecture("deepseek-r1"))
    c = pack_chip(lib.chip("nvidia-h200-sxm"), "fp8")
    c[L.C_MEM_BW] *= 1e9
    c[L.C_OVERLAP_LOSS] = 0.0
    dep = np.zeros(L.D_FIELDS)
    dep[[L.D_TP, L.D_PP, L.D_ATTN_DP, L.D_EP, L.D_W_BYTES, L.D_KV_BYTES, L.D_ACT_BYTES]] = 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0
    s = new_scratch()
    tile = grouped_gemm_efficiency_nb(a, dep, 64.0, c[L.C_GEMM_ROW_TILE])
    assert tile == pytest.approx(512.0 / (256.0 * (1.0 - (1.0 - 8.0 / 256.0) ** 64) * 16.0), rel=1e-9)
    assert grouped_gemm_efficiency_nb(a, dep, 64.0 + 1024.0, c[L.C_GEMM_ROW_TILE]) == 1.0
    f, b, cnt = np.zeros(L.N_OPS), np.zeros(L.N_OPS), np.zeros(L.N_OPS)
    op_costs_nb(a, dep, 64.0, 1.0, 1000.0, True, f, b, cnt)
    expert_s = cnt[L.OP_EXPERTS] * f[L.OP_EXPERTS] / (c[L.C_PEAK_FLOPS] * c[L.C_EFF_DECODE])
    alone = mixed_step_time_nb(a, c, dep, 64.0, 1000.0, 1.0, 0.0, 0.0, 0.0, s) - mixed_step_time_nb(a, c, dep, 0.0, 1000.0,
                                                                                             1.0, 0.0, 0.0, 0.0, s)
    mixed = mixed_step_time_nb(a, c, dep, 64.0, 1000.0, 1.0, 1024.0, 0.0, 1024.0, s) - mixed_step_time_nb(a, c, dep, 0.0, 1000.0,
                                                                                                1.0, 1024.0, 0.0, 1024.0, s)
    assert alone - mixed == pytest.approx(expert_s * (1.0 / tile - 1.0), rel=1e-6)
