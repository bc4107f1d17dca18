"""Scenario kind `elasticity`: how $/M tokens and latency respond to each chip resource (is decode
bandwidth bound, prefill compute bound?)."""

from __future__ import annotations

import bisect

import math

import numpy as np
import pandas as pd

from ...errors import InfersimError
from ...kernels import layout as L
from ...kernels.step import evaluate_nb, new_result_matrix, step_time_nb
from ...model.configuration import config_row, deployment_row, resolve_precision
from ...model.mapping_search import min_chips_to_fit
from ...model.packing import pack_architecture, pack_chip
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, require_results, scenario_chips, scenario_workload


def run_elasticity(lib: Library, spec: ScenarioSpec, progress=None, step: float = 0.05) -> ScenarioResult:
    arch = lib.architecture(spec.model)
    a = pack_architecture(arch)[None, :]
    w = scenario_workload(spec, lib)
    rows, skipped = [], []
    ids = scenario_chips(lib, spec)
    for i, cid in enumerate(ids):
        if progress:
            progress(i, len(ids), cid)
        chip = lib.chip(cid)
        try:
            p = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
            need, mapping = min_chips_to_fit(chip, arch, p, w)
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        base = pack_chip(chip, p.compute_dtype)
        variants = [base]
        for f in (L.C_MEM_BW, L.C_PEAK_FLOPS):
            for s in (1 + step, 1 - step):
                v = base.copy()
                v[f] *= s
                variants.append(v)
        chips = np.stack(variants)
        cfgs = np.stack([config_row(k, 0, p, mapping, w, batch=1) for k in range(len(variants))])
        out = new_result_matrix(len(cfgs))
        evaluate_nb(a, chips, cfgs, out)
        e = {}
        for name, idx, j in (("tpot_vs_bw", L.R_TPOT_S, 1), ("tpot_vs_flops", L.R_TPOT_S, 3),
                             ("ttft_vs_bw", L.R_TTFT_S, 1), ("ttft_vs_flops", L.R_TTFT_S, 3)):
            e[name] = (math.log(out[j, idx]) - math.log(out[j + 1, idx])) / (math.log(1 + step) - math.log(1 - step))
        crossover = _compute_bound_batch(a[0], base, p, mapping, w)
        max_batch = int(out[0, L.R_MAX_BATCH])
        rows.append({"chip": cid, "chip_kind": chip.kind, "num_chips": need, "mapping": mapping.label,
                     "elasticity_tpot_to_bandwidth": e["tpot_vs_bw"], "elasticity_tpot_to_flops": e["tpot_vs_flops"],
                     "elasticity_ttft_to_bandwidth": e["ttft_vs_bw"], "elasticity_ttft_to_flops": e["ttft_vs_flops"],
                     "decode_compute_bound_from_batch": crossover, "max_batch_on_these_chips": max_batch,
                     "crossover_fits": bool(crossover <= max_batch),
                     "ridge_flop_per_byte": base[L.C_PEAK_FLOPS] / base[L.C_MEM_BW]})
    require_results(spec, rows, skipped)
    head = pd.DataFrame(rows)
    mem_bound = head[head["elasticity_tpot_to_bandwidth"] < -0.8]
    cross = head["decode_compute_bound_from_batch"]
    summary = (f"batch-1 decode: TPOT elasticity to bandwidth median {head['elasticity_tpot_to_bandwidth'].median():.2f}, "
               f"to FLOP/s {head['elasticity_tpot_to_flops'].median():.2f} ({len(mem_bound)} of {len(head)} chips below "
               f"-0.8); {spec.input_len}-token prefill: TTFT elasticity to FLOP/s median "
               f"{head['elasticity_ttft_to_flops'].median():.2f}, to bandwidth {head['elasticity_ttft_to_bandwidth'].median():.2f}; "
               f"decode turns compute bound at a batch of {cross.min():.0f} to {cross.max():.0f} (median {cross.median():.0f}) "
               f"on {int(cross.notna().sum())} chips, within memory on {int(head['crossover_fits'].sum())} at their smallest "
               f"deployment; on {int(cross.isna().sum())} it never does: the KV-cache read of each sequence grows with the batch "
               f"as fast as its FLOPs.")
    return ScenarioResult(spec, head, summary, {}, skipped)


def _compute_bound_batch(arch_row, chip_row, precision, mapping, workload, limit: int = 1 << 16) -> float:
    """Smallest decode batch at which the step's compute time exceeds its memory time, from the
    step model alone (capacity not checked: the caller says whether it fits). NaN above `limit`."""
    scratch = [np.zeros(L.N_OPS) for _ in range(4)]
    bounds, bound_time = np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)
    past = workload.input_len + (workload.output_len - 1) / 2.0
    dep = deployment_row(precision, mapping)

    def compute_bound(batch: int) -> bool:
        micro = min(batch, mapping.pp)
        step_time_nb(arch_row, chip_row, dep, batch / micro, 1.0, past, True, *scratch, bounds, bound_time)
        return bound_time[L.BOUND_COMPUTE] > bound_time[L.BOUND_MEMORY]

    if not compute_bound(limit):
        return float("nan")
    # the compute share grows with the batch: the first compute-bound batch, by bisection over 1..limit
    return float(bisect.bisect_left(range(1, limit + 1), True, key=compute_bound) + 1)
