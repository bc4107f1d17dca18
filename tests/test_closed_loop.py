"""Closed loops (C requests always in flight) and disaggregated pools: the limits and identities the
steady state must respect."""

import math

import pytest

from infersim.errors import InfersimError
from infersim.kernels.operators import kv_bytes_per_seq_nb
from infersim.model.configuration import Mapping, resolve_precision
from infersim.model.packing import pack_architecture
from infersim.model.pools import DisaggDeployment
from infersim.model.serving import ServingModel, closed_loop
from infersim.specs.traffic import LengthDistribution

I, O = 1024, 1024


@pytest.fixture(scope="module")
def h200(lib):
    chip = lib.chip("nvidia-h200-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    return chip, arch, p


def model(h200, mapping=Mapping(tp=8), cap=None, i=I, o=O):
    chip, arch, p = h200
    return ServingModel(chip, arch, p, mapping, LengthDistribution(mean_tokens=i), LengthDistribution(mean_tokens=o),
                        max_running=cap)


def test_one_request_alone(h200):
    """C = 1: nothing else runs, so the request is prefilled at once (no iteration to wait for) and
    decodes at batch 1; throughput = O / (TTFT + (O - 1) TPOT)."""
    m = model(h200)
    r = closed_loop(m, 1)
    assert r.ttft_mean_s == pytest.approx(m._prefill_service_s(I, 0.0, 0.0), rel=1e-6)
    assert r.tpot_mean_s == pytest.approx(m.iteration_s(1.0, 0.0), rel=1e-6)
    assert r.output_tokens_per_s == pytest.approx(O / (r.ttft_mean_s + (O - 1) * r.tpot_mean_s), rel=1e-6)
    assert r.queued == 0 and r.queue_wait_mean_s == 0


@pytest.mark.jit_only
def test_littles_law_and_monotone_growth(h200):
    m = model(h200)
    prev = None
    for c in (2, 8, 32, 128, 512):
        r = closed_loop(m, c)
        life = r.ttft_mean_s + (O - 1) * r.tpot_mean_s
        # the loop closes: C = X x (time a request is in the system), up to the difference between the
        # iteration a request sees (without its own prompt) and the mean one
        assert r.request_rate_per_s * life == pytest.approx(c, rel=0.02)
        if prev:
            assert r.output_tokens_per_s > prev.output_tokens_per_s
            assert r.tpot_mean_s >= prev.tpot_mean_s and r.ttft_mean_s >= prev.ttft_mean_s
        prev = r
    # a busy engine: a replacement waits for the iteration in flight (T/pp) before its prefill
    r = closed_loop(m, 64)
    assert r.ttft_mean_s > m._prefill_service_s(I, 0.0, 0.0) + 0.5 * r.tpot_mean_s


@pytest.mark.jit_only
def test_a_very_long_loop_reaches_the_saturated_engine(h200):
    m = model(h200, cap=256)
    running, t = m.saturated()
    r = closed_loop(m, 4096)
    assert r.output_tokens_per_s == pytest.approx(running / t, rel=0.03)


@pytest.mark.jit_only
def test_requests_beyond_the_cap_queue(h200):
    """Past the cap, throughput stops growing and every extra request adds 1/X of queue wait."""
    m = model(h200, cap=128)
    a, b = closed_loop(m, 200), closed_loop(m, 300)
    assert a.request_rate_per_s == pytest.approx(b.request_rate_per_s, rel=1e-9)
    assert a.queued == 72 and b.queued == 172 and a.limit
    assert b.ttft_mean_s - a.ttft_mean_s == pytest.approx(100 / a.request_rate_per_s, rel=1e-6)
    assert a.queue_wait_mean_s == pytest.approx(72 / a.request_rate_per_s, rel=1e-6)
    assert b.tpot_mean_s == pytest.approx(a.tpot_mean_s, rel=1e-9)
    below = closed_loop(m, 128)
    assert below.queued == 0 and below.queue_wait_mean_s == 0


@pytest.mark.jit_only
def test_requests_split_over_replicas(h200):
    one = closed_loop(model(h200, Mapping(tp=2)), 1)
    four = model(h200, Mapping(tp=2, replicas=4))
    r1 = closed_loop(four, 1)       # one request: one replica busy, as alone
    assert r1.ttft_mean_s == pytest.approx(one.ttft_mean_s) and r1.tpot_mean_s == pytest.approx(one.tpot_mean_s)
    r4 = closed_loop(four, 4)       # one request on each replica
    assert r4.output_tokens_per_s == pytest.approx(4 * one.output_tokens_per_s, rel=1e-9)
    r6 = closed_loop(four, 6)       # two replicas with 2, two with 1
    two = closed_loop(model(h200, Mapping(tp=2)), 2)
    assert r6.output_tokens_per_s == pytest.approx(2 * two.output_tokens_per_s + 2 * one.output_tokens_per_s)


def test_bad_concurrency(h200):
    with pytest.raises(InfersimError, match="concurrency must be a whole number >= 1"):
        closed_loop(model(h200), 0)


# ---- disaggregated pools -----------------------------------------------------------------------

def pools(h200, n_prefill=4, n_decode=1, decode_cap=0, i=4096, o=512):
    chip, arch, p = h200
    inputs, outputs = LengthDistribution(mean_tokens=i), LengthDistribution(mean_tokens=o)
    pre = ServingModel(chip, arch, p, Mapping(tp=2, replicas=n_prefill), inputs, LengthDistribution(mean_tokens=1))
    dec = ServingModel(chip, arch, p, Mapping(tp=8, replicas=n_decode), inputs, outputs)
    return DisaggDeployment(pre, dec, arch, p, decode_cap=decode_cap)


def test_kv_transfer_runs_over_the_links_of_the_smaller_instance(h200):
    chip, arch, p = h200
    d = pools(h200)
    # Llama-3.1-70B, fp8 KV: 2 (K, V) x 80 layers x 8 KV heads x 128 x 1 B = 163,840 B per token
    nbytes = kv_bytes_per_seq_nb(pack_architecture(arch), 4096.0, 1.0)
    assert nbytes == pytest.approx(163_840 * 4096, rel=1e-9)
    link = chip.interconnect.scaleout_bw_bytes_per_s_per_direction * chip.efficiency.interconnect
    # the prefill instance (TP2) is the smaller: its 2 NICs carry the cache in parallel
    assert d.transfer_s == pytest.approx(chip.interconnect.scaleout_latency_s + nbytes / (2 * link), rel=1e-9)


def test_disagg_closed_loop_of_one(h200):
    d = pools(h200)
    r = d.closed_loop(1)
    alone = d.prefill.at_rate(r.request_rate_per_s)
    assert r.ttft_mean_s == pytest.approx(alone.ttft_mean_s + d.transfer_s, rel=1e-6)
    # decode at ~one sequence, plus half an iteration to join the decode instance's next one
    step = d.decode.iteration_s(r.decode_running, 0.0)
    assert r.tpot_mean_s == pytest.approx(step * (1 + 0.5 / (512 - 1)), rel=1e-3)
    assert r.request_rate_per_s * (r.ttft_mean_s + 511 * r.tpot_mean_s) == pytest.approx(1.0, rel=1e-6)


def test_disagg_full_decode_pool_queues(h200):
    d = pools(h200, n_prefill=8, decode_cap=32)
    a, b = d.closed_loop(200), d.closed_loop(300)
    assert a.limit == "decode pool" and a.request_rate_per_s == pytest.approx(b.request_rate_per_s, rel=1e-6)
    assert b.ttft_mean_s - a.ttft_mean_s == pytest.approx(100 / a.request_rate_per_s, rel=1e-3)
    assert a.decode_running <= 32 + 1e-6


def test_disagg_prefill_bound_loop_waits_in_the_prefill_queue(h200):
    """One TP2 prefill instance for 4k prompts: the loop's rate nears that instance's capacity and the
    rest of the concurrency waits for prefill, TTFT = C / X - (O - 1) TPOT."""
    d = pools(h200, n_prefill=1, n_decode=2)
    cap = d.prefill.capacity_per_s()
    r = d.closed_loop(512)
    assert r.request_rate_per_s == pytest.approx(cap, rel=0.002)
    assert r.ttft_mean_s == pytest.approx(512 / r.request_rate_per_s - 511 * r.tpot_mean_s, rel=1e-4)
    assert r.limit == "prefill pool"


def test_disagg_open_loop(h200):
    d = pools(h200)
    r = d.at_rate(2.0)
    assert r.output_tokens_per_s == pytest.approx(2.0 * 512)
    assert r.ttft_mean_s == pytest.approx(d.prefill.at_rate(2.0).ttft_mean_s + d.transfer_s)
    with pytest.raises(InfersimError, match="past the capacity"):
        d.at_rate(1e4)
    assert math.isfinite(r.tpot_mean_s)


# ---- the commands that take --concurrency -------------------------------------------------------

@pytest.mark.jit_only
def test_compare_goodput_and_disagg_take_concurrency(capsys, tmp_path, lib):
    """The CLI reports the closed loop at C: compare ranks on it, goodput lists every mapping tried,
    disagg sizes co-located and disaggregated deployments for C users within mean targets."""
    from infersim.analysis.closed_loop import closed_loop_search
    from infersim.cli import main

    args = ["--model", "llama-3.1-8b", "--weight-dtype", "fp8", "--input-len", "1024", "--output-len", "256"]
    out = tmp_path / "c.csv"
    assert main(["compare", *args, "--chips", "nvidia-h100-sxm", "--concurrency", "32", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "closed loop: 32 requests in flight" in text
    import pandas as pd

    row = pd.read_csv(out).iloc[0]
    chip = lib.chip("nvidia-h100-sxm")
    from infersim.model.configuration import Workload, resolve_precision
    from infersim.specs.traffic import LengthDistribution as LD

    p = resolve_precision(chip, "fp8", "fp8")
    m, r, _, _ = closed_loop_search(chip, lib.architecture("llama-3.1-8b"), p, Workload(1024, 256),
                                    LD(mean_tokens=1024), LD(mean_tokens=256), 32)
    assert row["concurrency"] == 32 and row["num_chips"] == m.chips
    assert row["system_tokens_per_s"] == pytest.approx(r.output_tokens_per_s, rel=1e-9)
    assert row["tpot_s"] == pytest.approx(r.tpot_mean_s, rel=1e-9)

    assert main(["goodput", *args, "--chip", "nvidia-h100-sxm", "--num-chips", "2", "--concurrency", "64"]) == 0
    text = capsys.readouterr().out
    assert "closed loop of 64 requests in flight" in text and "every mapping tried" in text

    assert main(["disagg", *args, "--prefill-chips", "nvidia-h100-sxm", "--decode-chips", "nvidia-h100-sxm",
                 "--concurrency", "16", "--max-ttft-ms", "500", "--max-tpot-ms", "30"]) == 0
    text = capsys.readouterr().out
    assert "closed loop of 16 requests in flight" in text and "co-located" in text and "disaggregated" in text
