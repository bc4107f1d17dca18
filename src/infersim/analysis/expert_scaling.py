"""Decode throughput per chip against the width of expert parallelism, at a fixed batch per chip,
and the scale-out bandwidth below which spreading the experts past a scale-up domain stops paying.

Each width is one replica of attention DP over `ep` chips with the experts over all of them
(`tp1 dpN epN`), decoding `batch_per_chip` x ep sequences: wider EP leaves fewer experts per chip to
read each step and more tokens per expert, but sends more of the expert exchange over the NIC once
it spans domains.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..kernels import layout as L
from ..kernels.step import step_time_nb
from ..model.configuration import Mapping, Precision, Workload, deployment_row
from ..model.evaluate import evaluate, operator_table
from ..model.mapping_search import candidate_mappings, min_chips_to_fit
from ..model.packing import packed_architecture, packed_chip
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture


def expert_mapping(ep: int) -> Mapping:
    return Mapping(tp=1, attn_dp=ep, ep=ep)


def decode_tokens_per_s_per_chip(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                                 ep: int, batch_per_chip: int) -> float:
    """Output tokens/s per chip of the decode steps (a decode pool's rate), nan if it does not fit."""
    r = evaluate(chip, arch, precision, expert_mapping(ep), workload, batch=batch_per_chip * ep)
    return batch_per_chip / r.tpot_s if r.fits else math.nan


def ep_scaling(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload, batch_per_chip: int,
               widths: tuple[int, ...] = (8, 16, 32, 64, 128)) -> pd.DataFrame:
    """One row per EP width: TPOT, decode tokens/s per chip and the share of the step the expert
    exchange adds (after two-batch overlap)."""
    rows = []
    for ep in widths:
        m = expert_mapping(ep)
        r = evaluate(chip, arch, precision, m, workload, batch=batch_per_chip * ep)
        row = {"chip": chip.id, "mapping": m.label, "ep": ep, "spans_domains": ep > chip.interconnect.scaleup_domain_chips,
               "fits": r.fits, "tpot_s": r.tpot_s, "decode_tokens_per_s_per_chip": math.nan, "exchange_share": math.nan}
        if r.fits:
            table = operator_table(chip, arch, precision, m, workload, batch_per_chip * ep, "decode")
            exchange = table.loc[table["op"] == "ep_alltoall", "time_s"].sum()
            row.update(decode_tokens_per_s_per_chip=batch_per_chip / r.tpot_s, exchange_share=exchange / r.tpot_s)
        rows.append(row)
    return pd.DataFrame(rows)


def with_scaleout_bw(chip: ChipSpec, bw_bytes_per_s: float) -> ChipSpec:
    """The chip with another NIC bandwidth per direction (everything else unchanged)."""
    net = chip.interconnect.model_copy(update={"scaleout_bw_bytes_per_s_per_direction": bw_bytes_per_s})
    return chip.model_copy(update={"interconnect": net})


def scaleout_crossover_bw(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                          batch_per_chip: int, narrow: int, wide: int, lo: float = 1e9, hi: float = 1e12) -> float:
    """NIC bandwidth per direction (B/s) at which EP `wide` (spanning domains) decodes as many tokens/s
    per chip as EP `narrow`: below it the narrow mapping wins. Bisection on the log of the bandwidth;
    nan when the wide mapping wins (or loses) over the whole range."""

    def gain(bw: float) -> float:
        c = with_scaleout_bw(chip, bw)
        return (decode_tokens_per_s_per_chip(c, arch, precision, workload, wide, batch_per_chip)
                / decode_tokens_per_s_per_chip(c, arch, precision, workload, narrow, batch_per_chip))

    if not gain(lo) < 1.0 < gain(hi):
        return math.nan
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if gain(mid) < 1.0 else (lo, mid)
    return math.sqrt(lo * hi)


# ---- pools of a disaggregated deployment, as DeepSeek and SGLang publish them ------------------

def _decode_at(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping, workload: Workload,
               max_tpot_s: float | None, batch_per_chip: int | None) -> dict | None:
    """Decode tokens/s per chip of `mapping` at `batch_per_chip` sequences per chip, or else at the
    largest batch per replica whose TPOT meets max_tpot_s (bisection: TPOT grows with the batch);
    None when the mapping does not fit that batch or not even one sequence meets the target."""
    top = evaluate(chip, arch, precision, mapping, workload)
    if not top.fits:
        return None
    if batch_per_chip is not None:
        lo = batch_per_chip * mapping.chips_per_replica
        if lo > top.max_batch:
            return None
    else:
        lo, hi = 1, top.max_batch
        if evaluate(chip, arch, precision, mapping, workload, batch=lo).tpot_s > max_tpot_s:
            return None
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if evaluate(chip, arch, precision, mapping, workload, batch=mid).tpot_s <= max_tpot_s:
                lo = mid
            else:
                hi = mid - 1
    r = evaluate(chip, arch, precision, mapping, workload, batch=lo)
    return {"mapping": mapping.label, "batch_per_replica": lo, "batch_per_chip": lo / mapping.chips_per_replica,
            "tpot_s": r.tpot_s, "user_tokens_per_s": 1.0 / r.tpot_s, "decode_bound": r.decode_bound,
            "decode_tokens_per_s_per_chip": lo / r.tpot_s / mapping.chips_per_replica}


def decode_pool(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload, num_chips: int,
                max_tpot_s: float | None = None, batch_per_chip: int | None = None,
                redundant_experts: int = 0) -> pd.DataFrame:
    """A decode-only pool of `num_chips` chips (no prompt in its steps: prefill runs elsewhere): every
    mapping the search would try on that many chips (model/mapping_search.py), each at
    `batch_per_chip` sequences per chip or else at its largest batch meeting the TPOT target, ranked
    by decode tokens/s per chip. TPOT is at the workload's mean decode context, input_len +
    (output_len - 1) / 2. Mappings with expert parallelism carry `redundant_experts` extra slots
    (EPLB). Empty when none fits or meets the target."""
    if (max_tpot_s is None) == (batch_per_chip is None):
        raise InfersimError("a decode pool needs either a TPOT target or a batch per chip (one of them)")
    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    rows = []
    for m in candidate_mappings(chip, arch, num_chips, need):
        if redundant_experts and m.ep > 1:
            m = replace(m, redundant_experts=redundant_experts)
        row = _decode_at(chip, arch, precision, m, workload, max_tpot_s, batch_per_chip)
        if row is not None:
            rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("decode_tokens_per_s_per_chip", ascending=False).reset_index(drop=True) if rows else table


def prefill_tokens_per_s_per_chip(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                                  new_tokens: int, cached_tokens: int, tokens_per_chip: int,
                                  routing_skew: float = 0.0) -> float:
    """Prompt tokens/s one chip of a prefill-only pool computes when each pass takes `tokens_per_chip`
    new tokens per chip (the engines' per-device token budget: DeepSeek and SGLang run 16,384) in
    prompts of `new_tokens` new tokens after `cached_tokens` whose KV cache was found (a prefix-cache
    hit: attended to, not recomputed); one prefill overhead per pass. nan if no whole prompt fits."""
    group_tokens = tokens_per_chip * mapping.tp          # pp 1: one pass over all layers
    prompts = math.floor(group_tokens / new_tokens)
    if prompts < 1:
        return math.nan
    a, c = packed_architecture(arch)[0], packed_chip(chip, precision.compute_dtype)[0]
    scratch = [np.zeros(L.N_OPS) for _ in range(4)]
    dep = deployment_row(precision, mapping, routing_skew=routing_skew)
    step = step_time_nb(a, c, dep, float(prompts * mapping.attn_dp), float(new_tokens), float(cached_tokens), False,
                        *scratch, np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3))
    return prompts * new_tokens / mapping.chips_per_replica * mapping.attn_dp / (step + chip.efficiency.prefill_overhead_s)


def prefill_pool(chip: ChipSpec, arch: Architecture, precision: Precision, num_chips: int, new_tokens: int,
                 cached_tokens: int, tokens_per_chip: int, redundant_experts: int = 0) -> pd.DataFrame:
    """Every mapping the search would try on `num_chips` chips as a prefill-only pool (one replica over
    all of them, as the published pools run), ranked by prompt tokens/s per chip."""
    need, _ = min_chips_to_fit(chip, arch, precision, Workload(new_tokens + cached_tokens, 1))
    rows = []
    for m in candidate_mappings(chip, arch, num_chips, need):
        if m.replicas != 1 or m.pp != 1:
            continue
        if redundant_experts and m.ep > 1:
            m = replace(m, redundant_experts=redundant_experts)
        if not evaluate(chip, arch, precision, m, Workload(new_tokens + cached_tokens, 1)).fits:
            continue
        tok = prefill_tokens_per_s_per_chip(chip, arch, precision, m, new_tokens, cached_tokens, tokens_per_chip)
        if not math.isnan(tok):
            rows.append({"mapping": m.label, "prefill_tokens_per_s_per_chip": tok})
    table = pd.DataFrame(rows)
    return table.sort_values("prefill_tokens_per_s_per_chip", ascending=False).reset_index(drop=True) if rows else table
