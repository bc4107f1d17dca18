"""`infersim compare`: several chips x one model x one workload, one ranked row per chip."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cost.inputs import PriceBasis
from ..cost.tco import chip_hour_cost, monte_carlo_chip_hour, token_cost, usd_per_mtok_per_chip_hour
from ..errors import InfersimError
from ..model.configuration import Workload, resolve_precision
from ..model.evaluate import Result
from ..model.mapping_search import Objective, Targets, search
from ..model.spatial_budget import vendor_speculation
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec
from ..specs.library import Library
from ..specs.platform import PlatformSpec
from ..specs.model_arch import Architecture
from ..specs.traffic import LengthDistribution, lengths_around
from ..model.efficiency_prior import efficiency_prior
from .closed_loop import closed_loop_result, closed_loop_search
from .uncertainty import EFFICIENCY_DRAWS, efficiency_band

COLUMNS = [
    "chip", "model", "num_chips", "mapping", "tp", "pp", "attn_dp", "ep", "dp", "batch", "ttft_s", "tpot_s",
    "user_tokens_per_s", "system_tokens_per_s", "tokens_per_s_per_chip", "decode_bound",
    "prefill_bound", "weight_dtype", "kv_dtype", "compute_dtype", "weight_only", "max_batch",
    "memory_used_fraction", "input_len", "output_len", "speculative", "chip_kind", "min_chips", "chip_counts_tried",
    "efficiency_fitted", "vendor_speculation_tpot_s", "efficiency_source", "efficiency_basis",
]
COST_COLUMNS = [
    "usd_per_mtok", "usd_per_mtok_input", "usd_per_mtok_output_decode", "usd_per_chip_hour", "chip_price_usd",
    "tokens_per_s_per_mw",
]
CLOSED_LOOP_COLUMNS = ["concurrency", "queue_wait_mean_s"]
UNCERTAINTY_COLUMNS = ["usd_per_mtok_p10", "usd_per_mtok_p50", "usd_per_mtok_p90"]
log = logging.getLogger("infersim")
RANK_BY = {"usd_per_mtok": True, "tokens_per_s_per_chip": False, "user_tokens_per_s": False, "tpot_s": True}


def result_record(r: Result, kind: str, workload: Workload, min_chips: int) -> dict:
    m = r.mapping
    return {
        "chip": r.chip, "model": r.model, "num_chips": m.chips, "mapping": m.label, "tp": m.tp, "pp": m.pp,
        "attn_dp": m.attn_dp, "ep": m.ep,
        "dp": m.replicas, "batch": r.batch, "ttft_s": r.ttft_s, "tpot_s": r.tpot_s,
        "user_tokens_per_s": r.user_tokens_per_s, "system_tokens_per_s": r.system_tokens_per_s,
        "tokens_per_s_per_chip": r.tokens_per_s_per_chip, "decode_bound": r.decode_bound,
        "prefill_bound": r.prefill_bound, "weight_dtype": r.precision.weight_dtype,
        "kv_dtype": r.precision.kv_dtype, "compute_dtype": r.precision.compute_dtype,
        "weight_only": r.precision.weight_only, "max_batch": r.max_batch,
        "memory_used_fraction": r.memory_used_fraction, "input_len": workload.input_len,
        "output_len": workload.output_len, "chip_kind": kind, "min_chips": min_chips,
        "speculative": workload.speculation.label if workload.speculation else "",
    }


def priced_record(result: Result, chip: ChipSpec, workload: Workload, min_chips: int, counts: tuple[int, ...],
                  budget: BudgetSpec | None, price_basis: PriceBasis = "owner",
                  platform: PlatformSpec | None = None) -> dict:
    """A row of the comparison: the configuration, the chip counts searched and, with a budget,
    its cost (`_per_chip_hour`: $/M tokens per $ of chip-hour, for the Monte Carlo bands). A budget
    needs the chip's `platform` (Library.platform_of)."""
    record = result_record(result, chip.kind, workload, min_chips)
    record["chip_counts_tried"] = ",".join(str(n) for n in counts)
    record["efficiency_fitted"] = bool(chip.efficiency.fitted_on)
    if budget is not None:
        if platform is None:
            raise InfersimError(f"{chip.id}: pricing needs its platform (Library.platform_of(chip))")
        cost = chip_hour_cost(chip, budget, price_basis, platform)
        tok = token_cost(result, cost, workload)
        record.update(usd_per_mtok=tok.usd_per_mtok, usd_per_mtok_input=tok.usd_per_mtok_input,
                      usd_per_mtok_output_decode=tok.usd_per_mtok_output_decode,
                      usd_per_chip_hour=cost.total_usd_per_hour, chip_price_usd=cost.chip_price_usd,
                      tokens_per_s_per_mw=tok.tokens_per_s_per_mw)
        record["_per_chip_hour"] = usd_per_mtok_per_chip_hour(result)
    return record


@dataclass
class Comparison:
    table: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (chip, reason)


def compare(library: Library, model: str | Architecture, chips: list[str | ChipSpec], workload: Workload, weight_dtype: str,
            kv_dtype: str, compute_dtype: str | None = None, num_chips: int | None = None, batch: int = 0,
            objective: Objective = "throughput", targets: Targets = Targets(),
            budget: BudgetSpec | None = None, price_basis: PriceBasis = "owner", uncertainty_samples: int = 0,
            rank_by: str | None = None, seed: int = 0,
            progress: Callable[[int, int, str], None] | None = None, concurrency: int | None = None,
            lengths: tuple[LengthDistribution, LengthDistribution] | None = None,
            efficiency_draws: int = EFFICIENCY_DRAWS) -> Comparison:
    """Evaluate each chip at its best chip count, mapping and batch, price it with `budget`
    (when given) and rank: by $/M tokens when priced, else by tokens/s per chip (throughput)
    or TPOT (latency). Chips that cannot run it are listed in `skipped`. `model` and `chips` are
    ids in `library` or spec objects; `chip_counts_tried` lists the chip counts searched.

    With `concurrency`, each chip is evaluated as a closed loop of that many requests in flight
    (analysis.closed_loop): TTFT and TPOT are the loop's means, throughput its output tokens/s, the
    targets apply to the means, `batch` caps the requests an engine holds and `lengths` (input,
    output distributions) give the spread around the workload's means.

    `uncertainty_samples` > 0 adds P10/P50/P90 of $/M tokens over the budget's ranges and, for each
    chip, `efficiency_draws` draws of its efficiencies from its prior (the configuration re-derived
    in each). `efficiency_source` says per chip where its efficiencies come from (own rows, its
    family's fit, or the cross-family prior)."""
    arch = model if isinstance(model, Architecture) else library.architecture(model)
    rows, skipped, specs, bands = [], [], [], []
    for i, chip_or_id in enumerate(chips):
        chip = chip_or_id if isinstance(chip_or_id, ChipSpec) else library.chip(chip_or_id)
        chip_id = chip.id
        if progress:
            progress(i, len(chips), chip_id)
        try:
            precision = resolve_precision(chip, weight_dtype, kv_dtype, compute_dtype)

            def derive(c: ChipSpec, precision=precision) -> tuple[dict, float]:
                """The chip's row and its $/M tokens per $ of chip-hour (c: the chip, possibly with
                drawn efficiencies)."""
                if concurrency:
                    inputs, outputs = lengths or lengths_around(None, workload.input_len, workload.output_len)
                    mapping, loop, counts, need = closed_loop_search(
                        c, arch, precision, workload, inputs, outputs, concurrency, targets.max_ttft_s,
                        targets.max_tpot_s, num_chips, objective, batch or None)
                    result = closed_loop_result(c, arch, precision, mapping, workload, loop)
                    record = priced_record(result, c, workload, need, counts, budget, price_basis,
                                           library.platform_of(c))
                    record.update(concurrency=concurrency, queue_wait_mean_s=loop.queue_wait_mean_s)
                else:
                    found = search(c, arch, precision, workload, num_chips=num_chips, batch=batch,
                                   objective=objective, targets=targets)
                    log.debug(f"{c.id}: {found.candidates} configurations over chip counts {found.chip_counts}")
                    result = found.best
                    record = priced_record(result, c, workload, found.min_chips, found.chip_counts, budget,
                                           price_basis, library.platform_of(c))
                    # where the chip's vendor runs speculative decoding ([spatial.speculative]): its TPOT with
                    # it, stated beside the plain one (the ranking and the cost stay on the plain decode)
                    spec = vendor_speculation(c, arch, precision, result.mapping, workload, result.batch)
                    record["vendor_speculation_tpot_s"] = spec.tpot_s if spec is not None else np.nan
                return record, usd_per_mtok_per_chip_hour(result)

            record, _ = derive(chip)
            prior = efficiency_prior(library, chip)
            record.update(efficiency_source=prior.tier, efficiency_basis=prior.source)
            if budget is not None and uncertainty_samples:
                bands.append(efficiency_band(library, chip, lambda c, d=derive: d(c)[1], efficiency_draws, seed))
        except InfersimError as exc:
            skipped.append((chip_id, str(exc)))
            continue
        rows.append(record)
        specs.append(chip)
    columns = COLUMNS + (CLOSED_LOOP_COLUMNS if concurrency else []) + (COST_COLUMNS if budget is not None else [])
    table = pd.DataFrame(rows, columns=columns + (["_per_chip_hour"] if budget is not None else []))
    if budget is not None and uncertainty_samples and len(table):
        # the budget's ranges and each chip's efficiencies together: a cost sample pairs with a draw
        samples = monte_carlo_chip_hour(specs, [library.platform_of(c) for c in specs], budget, price_basis,
                                        uncertainty_samples, seed).total
        rng = np.random.default_rng(seed + 1)
        per_mtok = samples * np.stack([b.resample(rng, uncertainty_samples) for b in bands], axis=1)
        p10, p50, p90 = np.percentile(per_mtok, [10, 50, 90], axis=0)
        table["usd_per_mtok_p10"], table["usd_per_mtok_p50"], table["usd_per_mtok_p90"] = p10, p50, p90
    table = table.drop(columns=["_per_chip_hour"], errors="ignore")
    if rank_by is None:
        rank_by = "usd_per_mtok" if budget is not None else ("tokens_per_s_per_chip" if objective == "throughput"
                                                             else "tpot_s")
    if rank_by not in RANK_BY or rank_by not in table.columns:
        raise InfersimError(f"cannot rank by '{rank_by}': choose one of {', '.join(c for c in RANK_BY if c in columns)}")
    table = table.sort_values(rank_by, ascending=RANK_BY[rank_by], kind="stable")
    return Comparison(table.reset_index(drop=True), skipped)
