"""Decode throughput per chip against the width of expert parallelism, at a fixed batch per chip,
and the scale-out bandwidth below which spreading the experts past a scale-up domain stops paying.

Each width is one replica of attention DP over `ep` chips with the experts over all of them
(`tp1 dpN epN`), decoding `batch_per_chip` x ep sequences: wider EP leaves fewer experts per chip to
read each step and more tokens per expert, but sends more of the expert exchange over the NIC once
it spans domains.
"""

from __future__ import annotations

import math

import pandas as pd

from ..model.configuration import Mapping, Precision, Workload
from ..model.evaluate import evaluate, operator_table
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
