"""Goodput of one chip: the largest request rate whose p99 TTFT and TPOT meet the targets under
continuous batching, over the mappings of the default chip-count search, with its cost."""

from __future__ import annotations

from ..cost.inputs import PriceBasis
from ..cost.tco import chip_hour_cost
from ..errors import InfersimError
from ..model.configuration import Precision, Workload
from ..model.mapping_search import candidate_mappings, chip_counts, min_chips_to_fit
from ..model.serving import Goodput, best_goodput
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from ..specs.platform import PlatformSpec
from ..specs.traffic import LengthDistribution


def goodput_search(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                   inputs: LengthDistribution, outputs: LengthDistribution, max_ttft_s: float | None,
                   max_tpot_s: float | None, num_chips: int | None = None) -> tuple[Goodput, tuple[int, ...]]:
    """The mapping with the most goodput per chip over the chip counts of the default search (or
    `num_chips`), and the counts tried."""
    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    counts = tuple(chip_counts(chip, need, num_chips, arch.is_moe))
    mappings = [m for n in counts for m in candidate_mappings(chip, arch, n, need)]
    return best_goodput(chip, arch, precision, mappings, inputs, outputs, max_ttft_s, max_tpot_s,
                        speculation=workload.speculation), counts


def goodput_record(g: Goodput, chip: ChipSpec, arch: Architecture, precision: Precision, counts: tuple[int, ...],
                   budget: BudgetSpec | None = None, price_basis: PriceBasis = "owner",
                   platform: PlatformSpec | None = None) -> dict:
    """One row: the rate, the deployment, the latencies at that rate and (with a budget) the cost
    per million output tokens of the deployment run at its goodput (a budget needs the chip's
    `platform`, Library.platform_of)."""
    r = g.at_goodput
    row = {
        "chip": chip.id, "model": arch.id, "weight_dtype": precision.weight_dtype, "kv_dtype": precision.kv_dtype,
        "compute_dtype": precision.compute_dtype, "num_chips": g.mapping.chips, "mapping": g.mapping.label,
        "tp": g.mapping.tp, "pp": g.mapping.pp, "attn_dp": g.mapping.attn_dp, "ep": g.mapping.ep, "dp": g.mapping.replicas,
        "chip_counts_tried": ",".join(str(n) for n in counts),
        "goodput_requests_per_s": g.rate_per_s, "capacity_requests_per_s": g.capacity_per_s,
        "output_tokens_per_s": r.output_tokens_per_s, "output_tokens_per_s_per_chip": g.output_tokens_per_s_per_chip,
        "ttft_mean_s": r.ttft_mean_s, "ttft_p50_s": r.ttft_p50_s, "ttft_p99_s": r.ttft_p99_s,
        "tpot_mean_s": r.tpot_mean_s, "tpot_p50_s": r.tpot_p50_s, "tpot_p99_s": r.tpot_p99_s,
        "running_sequences_per_replica": r.running_batch, "prefill_utilisation": r.prefill_utilisation,
    }
    if budget is not None:
        if platform is None:
            raise InfersimError(f"{chip.id}: pricing needs its platform (Library.platform_of(chip))")
        usd_per_chip_hour = chip_hour_cost(chip, budget, price_basis, platform).total_usd_per_hour
        row["usd_per_chip_hour"] = usd_per_chip_hour
        row["usd_per_mtok"] = g.mapping.chips * usd_per_chip_hour / (r.output_tokens_per_s * 3600.0) * 1e6
    return row
