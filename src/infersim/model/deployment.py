"""Deployments as vendors run them: the smallest one that holds a model, the mappings that use
exactly a given number of chips, and the best of them in a closed loop of users.

Engines run tensor parallel over a power of two of chips within the scale-up domain and add
pipeline stages only to span domains; replicas (data parallel) fill the rest.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import CapacityError, InfersimError
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from ..specs.traffic import LengthDistribution
from .configuration import Mapping, Precision, Workload
from .evaluate import evaluate
from .mapping_search import tp_candidates
from .serving import ClosedLoopResult, ServingModel, closed_loop

# assumption: a deployment holds the KV cache of at least this many sequences of the workload's
# lengths (one with room for a handful is not what anyone runs or publishes)
MIN_SEQUENCES = 8


def smallest_deployment(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                        batch: int = 0) -> Mapping:
    """The fewest chips that hold the model and max(batch, MIN_SEQUENCES) sequences as a vendor
    deploys it: one replica, tensor parallel over a power of two of chips within the scale-up
    domain; only when the whole domain does not hold it, pipeline stages of the largest group."""
    seqs = max(batch, MIN_SEQUENCES)
    tps = tp_candidates(chip, arch)
    for tp in tps:
        if evaluate(chip, arch, precision, Mapping(tp=tp), workload, batch=seqs).fits:
            return Mapping(tp=tp)
    tp = tps[-1]
    for pp in range(2, arch.n_layers + 1):
        if evaluate(chip, arch, precision, Mapping(tp=tp, pp=pp), workload, batch=seqs).fits:
            return Mapping(tp=tp, pp=pp)
    raise CapacityError(f"{arch.id} with {precision.weight_dtype} weights and {seqs} sequences does not fit "
                        f"{chip.id} even over TP{tp} x PP{arch.n_layers}: use a narrower weight dtype")


def exact_mappings(chip: ChipSpec, arch: Architecture, chips: int, one_replica: bool = False) -> list[Mapping]:
    """The mappings that use all `chips` (tp x pp divides it; tp x pp = chips for `one_replica`; for a
    mixture-of-experts model also tp x attn_dp = chips with the experts over all), single-stage ones first."""
    out = []
    for tp in tp_candidates(chip, arch):
        for pp in range(1, min(arch.n_layers, chips // tp) + 1):
            if chips % (tp * pp) or (one_replica and tp * pp != chips):
                continue
            for ep in ([1, tp] if arch.is_moe and tp > 1 else [1]):
                out.append(Mapping(tp=tp, pp=pp, ep=ep, replicas=chips // (tp * pp)))
        # mixture of experts: one replica of attention DP over every chip, experts over all of them
        dp = chips // tp
        if arch.is_moe and dp > 1 and chips % tp == 0 and chips <= arch.n_experts:
            out.append(Mapping(tp=tp, ep=chips, attn_dp=dp))
    return [m for m in out if m.pp == 1] + [m for m in out if m.pp > 1]


def best_exact_mapping(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload, chips: int,
                       batch: int = 0, latency: bool = False,
                       score: Callable[[Mapping], float] | None = None) -> Mapping:
    """The best mapping that uses all `chips`, pipelined ones only when no single-stage one holds the
    model: the most output tokens/s (static batch `batch` per replica, 0 = what fits; or the largest
    `score`), or, for `latency`, one replica with the lowest TPOT."""
    best, key_best = None, None
    cands = exact_mappings(chip, arch, chips, one_replica=latency)
    for single_stage in (True, False):
        for m in (c for c in cands if (c.pp == 1) == single_stage):
            r = evaluate(chip, arch, precision, m, workload, batch=batch)
            if not r.fits:
                continue
            key = (r.tpot_s, r.ttft_s) if latency else (-(score(m) if score else r.system_tokens_per_s), m.tp * m.pp)
            if key_best is None or key < key_best:
                best, key_best = m, key
        if best is not None:
            return best
    raise CapacityError(f"no mapping of {arch.id} ({precision.weight_dtype}) uses exactly {chips} x {chip.id} and "
                        "holds " + (f"batch {batch}" if batch else "it") + ": use more chips or a narrower dtype")


def best_closed_loop(chip: ChipSpec, arch: Architecture, precision: Precision, mappings: list[Mapping],
                     inputs: LengthDistribution, outputs: LengthDistribution, concurrency: int,
                     max_ttft_s: float | None = None, max_tpot_s: float | None = None,
                     objective: str = "throughput", **model_options) -> tuple[Mapping, ClosedLoopResult]:
    """Across mappings, the closed loop at `concurrency` with the most output tokens/s per chip
    (objective 'throughput') or the lowest mean TPOT ('latency'), among those whose mean TTFT and
    TPOT meet the targets. model_options go to ServingModel."""
    best = None
    why = "no mapping holds the model"
    for m in mappings:
        model = ServingModel(chip, arch, precision, m, inputs, outputs, **model_options)
        if model.max_batch < 1:
            continue
        try:
            r = closed_loop(model, concurrency)
        except InfersimError as exc:
            why = str(exc)
            continue
        if (max_ttft_s is not None and r.ttft_mean_s > max_ttft_s) or \
                (max_tpot_s is not None and r.tpot_mean_s > max_tpot_s):
            why = (f"at concurrency {concurrency} no mapping meets the targets (e.g. {m.label}: mean TTFT "
                   f"{r.ttft_mean_s * 1e3:.0f} ms, TPOT {r.tpot_mean_s * 1e3:.1f} ms)")
            continue
        key = -r.output_tokens_per_s / m.chips if objective == "throughput" else r.tpot_mean_s
        if best is None or key < best[0]:
            best = (key, m, r)
    if best is None:
        raise InfersimError(f"{arch.id} on {chip.id}: {why}: add chips, lower --concurrency or relax the targets")
    return best[1], best[2]
