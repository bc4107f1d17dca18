"""Evaluate one chip x model x mapping x workload: TTFT, TPOT, throughput, per-operator table,
static batches. Packs the inputs, calls the numba kernels, wraps the result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..kernels import layout as L
from ..kernels.step import evaluate_rows_nb, step_time_nb
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from .configuration import Mapping, Precision, Workload, check_mapping, config_row, deployment_row
from .packing import packed_architecture, packed_chip


@dataclass(frozen=True)
class Result:
    chip: str
    model: str
    precision: Precision
    mapping: Mapping
    fits: bool
    batch: int
    max_batch: int
    ttft_s: float
    tpot_s: float
    user_tokens_per_s: float
    system_tokens_per_s: float
    decode_bound: str
    prefill_bound: str
    weight_bytes_per_chip: float
    kv_bytes_per_chip: float
    memory_used_fraction: float
    prefill_time_share: float

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.system_tokens_per_s / self.mapping.chips


def result_from_row(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                    row: np.ndarray) -> Result:
    r = row.tolist()
    if r[L.R_FITS] == 1.0:
        return Result(
            chip=chip.id, model=arch.id, precision=precision, mapping=mapping, fits=True, batch=int(r[L.R_BATCH]),
            max_batch=int(max(r[L.R_MAX_BATCH], 0)), ttft_s=r[L.R_TTFT_S], tpot_s=r[L.R_TPOT_S],
            user_tokens_per_s=r[L.R_USER_TOK_S], system_tokens_per_s=r[L.R_SYSTEM_TOK_S],
            decode_bound=L.BOUND_NAMES[int(r[L.R_DECODE_BOUND])], prefill_bound=L.BOUND_NAMES[int(r[L.R_PREFILL_BOUND])],
            weight_bytes_per_chip=r[L.R_WEIGHT_BYTES_CHIP], kv_bytes_per_chip=r[L.R_KV_BYTES_CHIP],
            memory_used_fraction=r[L.R_MEM_USED_FRAC], prefill_time_share=r[L.R_PREFILL_SHARE])
    nan = float("nan")
    return Result(
        chip=chip.id, model=arch.id, precision=precision, mapping=mapping, fits=False, batch=0,
        max_batch=int(max(r[L.R_MAX_BATCH], 0)), ttft_s=nan, tpot_s=nan, user_tokens_per_s=nan,
        system_tokens_per_s=nan, decode_bound="n/a", prefill_bound="n/a", weight_bytes_per_chip=r[L.R_WEIGHT_BYTES_CHIP],
        kv_bytes_per_chip=nan, memory_used_fraction=nan, prefill_time_share=nan)


def evaluate(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping, workload: Workload,
             batch: int = 0) -> Result:
    """One configuration. batch 0 = the largest batch that fits. Does not raise when it does not
    fit: the Result says fits=False (see require_fit)."""
    check_mapping(chip, arch, mapping)
    cfg = config_row(0, 0, precision, mapping, workload, batch)[None, :]
    out = np.empty((1, L.R_FIELDS))
    # serial: one row opens no parallel region, so the time does not depend on what the other cores do
    evaluate_rows_nb(packed_architecture(arch), packed_chip(chip, precision.compute_dtype), cfg, out)
    return result_from_row(chip, arch, precision, mapping, out[0])


def operator_table(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                   workload: Workload, batch: int, phase: str) -> pd.DataFrame:
    """Per-operator FLOPs, bytes, time and bound of one step on one chip.

    phase 'prefill': one request of input_len tokens in each attention group (the TTFT pass; a
    prompt longer than the token budget shows its first chunk); 'decode': one token for each of
    `batch` sequences at the average decode context. Times are for the whole model (count x
    per-layer)."""
    if phase not in ("prefill", "decode"):
        raise InfersimError(f"phase must be 'prefill' or 'decode', got '{phase}'")
    check_mapping(chip, arch, mapping)
    a = packed_architecture(arch)[0]
    c = packed_chip(chip, precision.compute_dtype)[0]
    flops, nbytes, count, times = (np.zeros(L.N_OPS) for _ in range(4))
    bounds = np.zeros(L.N_OPS, dtype=np.int64)
    bound_time = np.zeros(3)
    decode = phase == "decode"
    if decode:
        micro = min(batch, mapping.pp)
        seqs, new, past = batch / micro, 1.0, workload.input_len + (workload.output_len - 1) / 2.0
    else:
        first = workload.input_len if workload.prefill_chunk <= 0 else min(workload.input_len, workload.prefill_chunk)
        seqs, new, past = float(mapping.attn_dp), float(first), 0.0
    total = step_time_nb(a, c, deployment_row(precision, mapping, routing_skew=workload.routing_skew), seqs, new,
                         past, decode,
                         flops, nbytes, count, times, bounds, bound_time)
    rows = []
    for op in range(L.N_OPS):
        if count[op] <= 0:
            continue
        t = count[op] * times[op]
        rows.append({
            "op": L.OP_NAMES[op], "count": count[op],
            "flops_per_chip": count[op] * flops[op], "bytes_per_chip": count[op] * nbytes[op],
            "intensity_flop_per_byte": flops[op] / nbytes[op] if nbytes[op] > 0 else np.nan,
            "time_s": t, "time_share": t / total if total > 0 else np.nan, "bound": L.BOUND_NAMES[bounds[op]],
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class StaticBatch:
    """A static batch: `batch` prompts prefilled together, then decoded together."""

    ttft_s: float                 # prefill of the whole batch + the prefill overhead
    tpot_s: float                 # one decode step at the batch, at the average context
    system_tokens_per_s: float    # batch x output_len / (ttft + (output_len - 1) x tpot), all replicas
    fits: bool
    max_batch: int


def static_batch(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping, workload: Workload,
                 batch: int) -> StaticBatch:
    """TTFT, TPOT and throughput of a static batch (MLPerf-style fixed_batch / single_stream)."""
    if batch < 1:
        raise InfersimError(f"a static batch needs at least 1 sequence, got {batch}")
    fit = evaluate(chip, arch, precision, mapping, workload, batch=batch)
    a = packed_architecture(arch)[0]
    c = packed_chip(chip, precision.compute_dtype)[0]
    scratch = [np.zeros(L.N_OPS) for _ in range(4)]
    bounds, bound_time = np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)
    dep = deployment_row(precision, mapping, routing_skew=workload.routing_skew)
    micro = min(batch, mapping.pp)
    # prefill: micro-batches of prompts flow through the stages; the last one leaves after
    # (stages + micro-batches - 1) stage times
    t_pf = step_time_nb(a, c, dep, batch / micro, float(workload.input_len), 0.0, False, *scratch, bounds, bound_time)
    ttft = t_pf * (mapping.pp + micro - 1) / mapping.pp + chip.efficiency.prefill_overhead_s
    past = workload.input_len + (workload.output_len - 1) / 2.0
    tpot = step_time_nb(a, c, dep, batch / micro, 1.0, past, True, *scratch, bounds, bound_time) \
        + chip.efficiency.step_overhead_s
    total = ttft + (workload.output_len - 1) * tpot
    return StaticBatch(ttft, tpot, mapping.replicas * batch * workload.output_len / total, fit.fits, fit.max_batch)
