"""Speculative decoding on the same chips: a draft model or multi-token-prediction heads draft k
tokens, one target pass verifies them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InfersimError
from ..kernels import layout as L
from ..kernels.step import step_time_nb
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from .configuration import Mapping, Precision, SpecDecode, Workload, deployment_row, speculation_for
from .packing import pack_architecture, pack_chip


@dataclass(frozen=True)
class Speculation:
    k: int                        # tokens drafted per step
    acceptance: float             # probability each drafted token is accepted
    tokens_per_step: float        # expected tokens per verification step: (1 - a^(k+1)) / (1 - a)
    tpot_s: float                 # per generated token
    baseline_tpot_s: float        # without speculation

    @property
    def speedup(self) -> float:
        return self.baseline_tpot_s / self.tpot_s


def speculative_decode(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping, workload: Workload,
                       batch: int, k: int, acceptance: float, draft: Architecture | None = None) -> Speculation:
    """TPOT with speculative decoding on the same chips: each step drafts k tokens (k decode steps of
    `draft`, or, with draft=None, k passes of one extra layer of the target as multi-token
    prediction does) and verifies them in one target pass over k + 1 tokens per sequence."""
    if not 1 <= k <= 16:
        raise InfersimError(f"speculated tokens per step must be 1..16, got {k}")
    if not 0 <= acceptance < 1:
        raise InfersimError(f"acceptance rate must be in [0, 1), got {acceptance}")
    c = pack_chip(chip, precision.compute_dtype)
    scratch = [np.zeros(L.N_OPS) for _ in range(4)]
    bounds, bound_time = np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)
    dep = deployment_row(precision, mapping, routing_skew=workload.routing_skew)
    past = workload.input_len + (workload.output_len - 1) / 2.0
    overhead = chip.efficiency.step_overhead_s

    def step(a_row, new_tokens: float) -> float:
        return step_time_nb(a_row, c, dep, float(batch), new_tokens, past, True, *scratch, bounds, bound_time)

    target = pack_architecture(arch)
    baseline = step(target, 1.0) + overhead
    verify = step(target, k + 1.0) + overhead
    if draft is None:
        draft_step = (step(target, 1.0) / arch.n_layers) * k          # one extra layer per drafted token
    else:
        draft_step = (step(pack_architecture(draft), 1.0) + overhead) * k
    tokens = (1 - acceptance ** (k + 1)) / (1 - acceptance)
    return Speculation(k, acceptance, tokens, (verify + draft_step) / tokens, baseline)


def resolve_speculation(library, arch: Architecture, method: str, draft_tokens: int | None = None,
                        acceptance: float | None = None) -> SpecDecode:
    """Speculative decoding of `arch` as a user names it: 'mtp' (its multi-token-prediction modules,
    the acceptance rate defaulting to the one its model file publishes, with the source) or the id
    of a draft model in `library` (then an acceptance rate must be given)."""
    if method == "mtp":
        published, source = None, ""
        if arch.id in library.ids("model"):
            spec = library.model(arch.id).speculative
            if spec is not None:
                published, source = spec.mtp_acceptance, f"workloads/models/{arch.id}.toml: {spec.note}"
        return speculation_for(arch, "mtp", draft_tokens, acceptance, default_acceptance=published,
                               acceptance_source=source)
    return speculation_for(arch, method, draft_tokens, acceptance, draft=library.architecture(method))
