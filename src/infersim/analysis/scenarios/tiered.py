"""Scenario kind `tiered`: classes of requests, each on its own tier of chips sized for its rate."""

from __future__ import annotations

import math

import pandas as pd

from ...cost.tco import chip_hour_cost
from ...errors import InfersimError
from ...kernels.operators import kv_bytes_per_seq_nb
from ...model.configuration import Workload, resolve_precision
from ...model.mapping_search import candidate_mappings, chip_counts, min_chips_to_fit
from ...model.packing import pack_architecture
from ...model.serving import best_goodput
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, scenario_workload


def run_tiered(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    """Each class on its own tier, sized for its rate at its traffic's p99 targets. An agent class's
    reused prefix is loaded from the chip's host-memory tier when it has one, else prefilled again."""

    arch = lib.architecture(spec.model)
    budget = lib.budget(spec.budget)
    rows, skipped = [], []
    for i, c in enumerate(spec.classes):
        if progress:
            progress(i, len(spec.classes), c.name)
        chip = lib.chip(c.chip)
        t = lib.traffic(c.traffic)
        ttft_target = c.max_ttft_ms / 1e3 if c.max_ttft_ms else t.ttft_target_s
        tpot_target = c.max_tpot_ms / 1e3 if c.max_tpot_ms else t.tpot_target_s
        precision = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
        inputs, options, tier = t.input, {}, "-"
        if c.reused_prefix_tokens:
            host = chip.memory.host
            if host is not None:
                kv = kv_bytes_per_seq_nb(pack_architecture(arch), c.reused_prefix_tokens, precision.kv_bytes)
                options = {"prefix_tokens": c.reused_prefix_tokens, "prefix_load_s": kv / host.bandwidth_bytes_per_s}
                tier = f"host {host.technology}: prefix KV loaded in {options['prefix_load_s'] * 1e3:.1f} ms"
            else:
                inputs = inputs.model_copy(update={"mean_tokens": inputs.mean_tokens + c.reused_prefix_tokens})
                tier = "no host tier: prefix prefilled again"
        w = Workload(max(1, round(inputs.mean_tokens + c.reused_prefix_tokens * bool(options))),
                     max(1, round(t.output.mean_tokens)))
        try:
            need, _ = min_chips_to_fit(chip, arch, precision, w)
            maps = [m for n in chip_counts(chip, need, None, arch.is_moe) for m in candidate_mappings(chip, arch, n, need)]
            g = best_goodput(chip, arch, precision, maps, inputs, t.output, ttft_target, tpot_target,
                             for_rate_per_s=c.rate_per_s, speculation=scenario_workload(spec, lib).speculation,
                             **options)
        except InfersimError as exc:
            skipped.append((c.name, str(exc)))
            continue
        instances = math.ceil(c.rate_per_s / g.rate_per_s)
        at = g.model.at_rate(c.rate_per_s / instances * g.mapping.replicas)
        chips = instances * g.mapping.chips
        usd_h = chips * chip_hour_cost(chip, budget, spec.price_basis, lib.platform_of(chip)).total_usd_per_hour
        tokens_h = c.rate_per_s * t.output.mean_tokens * 3600.0
        rows.append({"class": c.name, "chip": c.chip, "rate_per_s": c.rate_per_s, "chips": chips,
                     "mapping": g.mapping.label, "ttft_p99_s": at.ttft_p99_s, "tpot_p99_s": at.tpot_p99_s,
                     "ttft_target_s": ttft_target, "tpot_target_s": tpot_target, "kv_tier": tier,
                     "usd_per_hour": usd_h, "usd_per_mtok": usd_h / tokens_h * 1e6,
                     "_tokens_h": tokens_h})
    head = pd.DataFrame(rows)
    if head.empty:
        raise InfersimError("no class could be served: " + "; ".join(f"{n}: {w}" for n, w in skipped))
    total_usd, total_tok = head["usd_per_hour"].sum(), head.pop("_tokens_h").sum()
    summary = (f"{len(head)} classes on {head['chips'].sum():.0f} chips cost ${total_usd:,.0f}/h, a blended "
               f"${total_usd / total_tok * 1e6:.3f}/M output tokens; per class from "
               f"${head['usd_per_mtok'].min():.3f}/M ({head.loc[head['usd_per_mtok'].idxmin(), 'class']}) to "
               f"${head['usd_per_mtok'].max():.3f}/M ({head.loc[head['usd_per_mtok'].idxmax(), 'class']}).")
    return ScenarioResult(spec, head, summary, {}, skipped)
