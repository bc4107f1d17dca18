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
from .serving import Z99, ServingModel, largest_rate


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

