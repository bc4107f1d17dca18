"""Disaggregated serving: a prefill pool and a decode pool, possibly of different chips.

Prefill instance: the serving model with one output token (prompts chunked into iterations of at
most the token budget, the same queueing as co-located serving); TTFT adds the transfer of the
prompt's KV cache over the slower of the two NICs. Decode instance: every
iteration decodes all running sequences, with no prompt chunks in it, so TPOT is the decode step
at the running batch (Little's law: running = rate x output x TPOT). Each pool's capacity is the
largest request rate meeting its target; the pools are then sized in proportion to serve the same rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InfersimError
from ..kernels.operators import kv_bytes_per_seq_nb
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from ..specs.traffic import LengthDistribution
from .configuration import Mapping, Precision
from .packing import pack_architecture
from .serving import Z99, ServingModel, largest_rate, steady_iteration_s


@dataclass(frozen=True)
class PoolCapacity:
    chip: str
    mapping: Mapping
    rate_per_s: float          # requests/s one instance serves at its target
    ttft_p99_s: float          # prefill pools: at that rate (KV transfer included)
    tpot_p99_s: float          # decode pools: at that rate


def kv_transfer_s(arch: Architecture, precision: Precision, prompt_tokens: float, a: ChipSpec, b: ChipSpec) -> float:
    """Seconds to move one prompt's KV cache from a prefill to a decode instance over the NICs."""
    nbytes = kv_bytes_per_seq_nb(pack_architecture(arch), prompt_tokens, precision.kv_bytes)
    bw = min(a.interconnect.scaleout_bw_bytes_per_s_per_direction, b.interconnect.scaleout_bw_bytes_per_s_per_direction)
    eff = min(a.efficiency.interconnect, b.efficiency.interconnect)
    return max(a.interconnect.scaleout_latency_s, b.interconnect.scaleout_latency_s) + nbytes / (bw * eff)


def prefill_capacity(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                     inputs: LengthDistribution, max_ttft_s: float, transfer_s: float) -> PoolCapacity:
    """A prefill-only instance is the serving model with one output token: prompts are chunked into
    iterations of up to the token budget, with the same queueing as co-located serving."""
    model = ServingModel(chip, arch, precision, mapping, inputs, LengthDistribution(mean_tokens=1.0))
    if model.max_batch < 1:
        return PoolCapacity(chip.id, mapping, 0.0, math.inf, math.nan)

    rate = largest_rate(model.at_rate, max_ttft_s, None, 1e-6, 1e6, extra_ttft_s=transfer_s)
    if rate <= 0:
        return PoolCapacity(chip.id, mapping, 0.0, model.at_rate(1e-6).ttft_p99_s + transfer_s, math.nan)
    return PoolCapacity(chip.id, mapping, rate, model.at_rate(rate).ttft_p99_s + transfer_s, math.nan)


def decode_capacity(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                    inputs: LengthDistribution, outputs: LengthDistribution, max_tpot_s: float) -> PoolCapacity:
    model = ServingModel(chip, arch, precision, mapping, inputs, outputs)
    o = outputs.mean_tokens

    def tpot99(running: float) -> float:
        # the running count swings with var B / (1 - eps), eps = d ln T / d ln B (as in ServingModel.at_rate)
        eps = model.load_elasticity(running, 0.0, model.iteration_s(running, 0.0))
        return model.iteration_s(running + Z99 * math.sqrt(running / (1.0 - eps)), 0.0)

    if model.max_batch < 1 or tpot99(1.0) > max_tpot_s:
        return PoolCapacity(chip.id, mapping, 0.0, math.nan, tpot99(1.0) if model.max_batch else math.inf)
    lo = float(model.max_batch)
    if tpot99(lo) > max_tpot_s:  # the p99 TPOT grows with the running count: Brent's method for the target
        from scipy.optimize import brentq

        lo = brentq(lambda b: tpot99(b) - max_tpot_s, 1.0, lo, xtol=1e-3)
        while tpot99(lo) > max_tpot_s:
            lo -= 1e-3
    t = model.iteration_s(lo, 0.0)
    return PoolCapacity(chip.id, mapping, lo / (o * t) * mapping.replicas, math.nan, tpot99(lo))


def best_pool(capacities: list[PoolCapacity]) -> PoolCapacity:
    ok = [c for c in capacities if c.rate_per_s > 0]
    if not ok:
        raise InfersimError("no mapping meets the target for this pool: relax it or use another chip")
    return max(ok, key=lambda c: c.rate_per_s / c.mapping.chips)



# ---- a given deployment: fixed pools under load -----------------------------------------------

@dataclass(frozen=True)
class DisaggResult:
    """Mean latencies and throughput of a disaggregated deployment (closed or open loop)."""

    request_rate_per_s: float
    output_tokens_per_s: float
    ttft_mean_s: float            # queue + prefill (prefill pool) + KV transfer
    tpot_mean_s: float            # decode pool, including the wait to join its first iteration
    kv_transfer_s: float
    queue_wait_mean_s: float      # closed loop: waiting for a place (decode pool full)
    decode_running: float         # mean decoding sequences per decode instance
    limit: str                    # 'prefill pool', 'decode pool' or ''


class DisaggDeployment:
    """Prefill instances and decode instances on separate pools (each a ServingModel whose mapping's
    replicas are the instances), the prompt's KV cache sent between them over the scale-out fabric.

    A request is prefilled in the prefill pool (queueing, chunked iterations: the serving model with
    one output token), its KV cache moves to a decode instance (kv_transfer_s over the parallel links
    of the smaller instance), joins that instance's next iteration (half an iteration on average)
    and decodes O - 1 tokens there; decode iterations carry no prompts, so TPOT is the decode step at
    the running batch, B = rate x (O - 1) x T per instance (Little)."""

    def __init__(self, prefill: ServingModel, decode: ServingModel, arch: Architecture, precision: Precision,
                 decode_cap: int = 0):
        self.prefill, self.decode = prefill, decode
        self.cap = min(decode.max_batch, decode_cap) if decode_cap else decode.max_batch
        links = min(prefill.mapping.tp * prefill.mapping.pp, decode.mapping.tp * decode.mapping.pp)
        one_link = kv_transfer_s(arch, precision, prefill.inputs.mean_tokens, prefill.chip, decode.chip)
        latency = max(prefill.chip.interconnect.scaleout_latency_s, decode.chip.interconnect.scaleout_latency_s)
        self.transfer_s = latency + (one_link - latency) / links
        self.o_mean = decode.outputs.mean_tokens

    def _decode_step(self, rate_per_s: float) -> float | None:
        """Decode iteration time per instance at `rate_per_s` for the deployment (the fixed point
        T = iteration(lambda (O - 1) T running, no prompts)); None past capacity or the running cap."""
        lam = rate_per_s / self.decode.mapping.replicas
        n = max(self.o_mean - 1.0, 0.0)

        def g(t: float) -> float:
            return self.decode.iteration_s(lam * n * t, 0.0)

        t = steady_iteration_s(g, g(0.0))
        return None if t is None or lam * n * t > self.cap else t

    def _state(self, rate_per_s: float):
        """(TTFT, TPOT, decode running) at a request rate, or None past either pool's capacity."""
        if rate_per_s <= 0:
            return None
        pre = self.prefill.at_rate(rate_per_s)
        t = self._decode_step(rate_per_s)
        if not pre.stable or t is None:
            return None
        n = max(self.o_mean - 1.0, 1.0)
        tpot = t * (1.0 + 0.5 / n)          # joins the next decode iteration: half of one, on average
        running = rate_per_s / self.decode.mapping.replicas * (self.o_mean - 1.0) * t
        return pre.ttft_mean_s + self.transfer_s, tpot, running

    def at_rate(self, rate_per_s: float) -> DisaggResult:
        """Open loop (Poisson arrivals) at `rate_per_s`; raises InfersimError past capacity."""
        s = self._state(rate_per_s)
        if s is None:
            raise InfersimError(f"{rate_per_s:g} requests/s is past the capacity of the prefill or decode pool")
        ttft, tpot, running = s
        return DisaggResult(rate_per_s, rate_per_s * self.o_mean, ttft, tpot, self.transfer_s, 0.0, running, "")

    def closed_loop(self, concurrency: int) -> DisaggResult:
        """`concurrency` requests in flight: the rate X where X x (TTFT + (O - 1) TPOT) = concurrency.
        At a pool's capacity (the prefill pool's steady state ends, or the decode pool is full: batch
        cap or KV memory) the requests beyond what the pools hold wait their turn: (excess) / X
        (Little), part of TTFT."""
        if concurrency < 1:
            raise InfersimError(f"concurrency must be >= 1, got {concurrency}")

        def held(x: float) -> float:
            s = self._state(x)
            return math.inf if s is None else x * (s[0] + (self.o_mean - 1.0) * s[1])

        lo, hi = 0.0, 1.0
        while held(hi) < concurrency and math.isfinite(held(hi)):
            lo, hi = hi, hi * 2.0
            if hi > 1e9:
                break
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if held(mid) < concurrency else (lo, mid)
        x = lo
        if x <= 0:
            raise InfersimError("no steady state: the pools cannot serve one request in flight")
        ttft, tpot, running = self._state(x)
        inside = held(x)
        wait, limit = 0.0, ""
        at_prefill_capacity = not self.prefill.at_rate(x * 1.001).stable
        if concurrency - inside > 1e-6 * concurrency:     # at a pool's capacity: the rest wait their turn
            wait = (concurrency - inside) / x
            limit = "prefill pool" if at_prefill_capacity else "decode pool"
        elif at_prefill_capacity:                         # its own queue holds the rest
            limit = "prefill pool"
        return DisaggResult(x, x * self.o_mean, ttft + wait, tpot, self.transfer_s, wait, running, limit)
