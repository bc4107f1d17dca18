"""Closed loops of users (`--concurrency C`): C requests always in flight, each replaced as it
finishes, as vLLM/SGLang benchmark scripts and genai-perf run them. The mean TTFT, mean TPOT and
output throughput of a deployment at C (model.serving.closed_loop), the best deployment for C on one
chip, and its cost per token. Targets are compared with the loop's means (it has no p99 model)."""

from __future__ import annotations

from dataclasses import replace

from ..cost.inputs import PriceBasis
from ..cost.tco import chip_hour_cost
from ..model.configuration import Mapping, Precision, Workload
from ..model.deployment import best_closed_loop
from ..model.evaluate import Result, evaluate
from ..model.mapping_search import candidate_mappings, chip_counts, min_chips_to_fit
from ..model.serving import ClosedLoopResult
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from ..specs.platform import PlatformSpec
from ..specs.traffic import LengthDistribution


def closed_loop_search(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                       inputs: LengthDistribution, outputs: LengthDistribution, concurrency: int,
                       max_ttft_s: float | None = None, max_tpot_s: float | None = None,
                       num_chips: int | None = None, objective: str = "throughput", batch_cap: int | None = None):
    """Over the mappings of the default chip-count search (or `num_chips`): the one whose closed
    loop at `concurrency` gives the most output tokens/s per chip (or the lowest TPOT for
    objective 'latency') with mean TTFT and TPOT within the targets. Returns (mapping, result,
    chip counts tried, fewest chips that hold the model)."""
    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    counts = tuple(chip_counts(chip, need, num_chips, arch.is_moe))
    mappings = [m for n in counts for m in candidate_mappings(chip, arch, n, need)]
    mapping, result = best_closed_loop(chip, arch, precision, mappings, inputs, outputs, concurrency, max_ttft_s,
                                       max_tpot_s, objective, max_running=batch_cap,
                                       speculation=workload.speculation)
    return mapping, result, counts, need


def closed_loop_result(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                       workload: Workload, r: ClosedLoopResult) -> Result:
    """The configuration's Result (memory, bounds) at the loop's running batch, with its TTFT, TPOT
    and throughput those of the closed loop, for the tables and costs that take a Result."""
    static = evaluate(chip, arch, precision, mapping, workload, batch=max(1, round(r.in_engine_per_replica)))
    return replace(static, ttft_s=r.ttft_mean_s, tpot_s=r.tpot_mean_s, user_tokens_per_s=1.0 / r.tpot_mean_s,
                   system_tokens_per_s=r.output_tokens_per_s, batch=int(round(r.in_engine_per_replica)))


def closed_loop_record(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                       r: ClosedLoopResult, counts: tuple[int, ...], budget: BudgetSpec | None = None,
                       price_basis: PriceBasis = "owner", platform: PlatformSpec | None = None) -> dict:
    """One row: the deployment, the loop's means and queue, and (with a budget) $/M output tokens."""
    row = {
        "chip": chip.id, "model": arch.id, "weight_dtype": precision.weight_dtype, "kv_dtype": precision.kv_dtype,
        "compute_dtype": precision.compute_dtype, "num_chips": mapping.chips, "mapping": mapping.label,
        "tp": mapping.tp, "pp": mapping.pp, "attn_dp": mapping.attn_dp, "ep": mapping.ep, "dp": mapping.replicas, "chip_counts_tried": ",".join(str(n) for n in counts),
        "concurrency": r.concurrency, "requests_per_s": r.request_rate_per_s,
        "output_tokens_per_s": r.output_tokens_per_s, "output_tokens_per_s_per_chip": r.output_tokens_per_s / mapping.chips,
        "ttft_mean_s": r.ttft_mean_s, "tpot_mean_s": r.tpot_mean_s, "user_tokens_per_s": 1.0 / r.tpot_mean_s,
        "queue_wait_mean_s": r.queue_wait_mean_s, "queued_requests": r.queued,
        "in_engine_per_replica": r.in_engine_per_replica, "running_sequences_per_replica": r.running_batch,
        "engine_limit": r.limit,
    }
    if budget is not None:
        usd_per_chip_hour = chip_hour_cost(chip, budget, price_basis, platform).total_usd_per_hour
        row["usd_per_chip_hour"] = usd_per_chip_hour
        row["usd_per_mtok"] = mapping.chips * usd_per_chip_hour / (r.output_tokens_per_s * 3600.0) * 1e6
    return row


def closed_loop_table(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                      inputs: LengthDistribution, outputs: LengthDistribution, concurrency: int,
                      num_chips: int | None = None, budget: BudgetSpec | None = None,
                      price_basis: PriceBasis = "owner", platform: PlatformSpec | None = None) -> list[dict]:
    """The closed loop at `concurrency` on every mapping of the default chip-count search (or
    `num_chips`), one record each (closed_loop_record); mappings without a steady state are left out."""
    from ..errors import InfersimError
    from ..model.serving import ServingModel, closed_loop

    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    counts = tuple(chip_counts(chip, need, num_chips, arch.is_moe))
    rows = []
    for m in (m for n in counts for m in candidate_mappings(chip, arch, n, need)):
        model = ServingModel(chip, arch, precision, m, inputs, outputs, speculation=workload.speculation)
        if model.max_batch < 1:
            continue
        try:
            r = closed_loop(model, concurrency)
        except InfersimError:
            continue
        rows.append(closed_loop_record(chip, arch, precision, m, r, counts, budget, price_basis, platform))
    return rows
