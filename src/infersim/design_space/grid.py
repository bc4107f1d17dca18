"""The sweep's grid: its axes as packed arrays (chip variants, models, budget variants, tp, pp,
lengths, batches), the factor tables the factorised kernel reads (timing and memory variants of each
chip, which chip variants share them), and the decoding of a flat row back into a tidy record."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import dtypes
from ..cost.inputs import budget_row, chip_cost_row
from ..errors import InfersimError
from ..kernels import grid_sweep as K
from ..kernels import layout as L
from ..model.configuration import Mapping, Precision, Workload, check_context, config_row, resolve_precision
from ..model.packing import pack_architecture, pack_chip
from ..specs.library import Library
from ..specs.sweep_file import SweepSpec


@dataclass
class Grid:
    """The sweep's axes as arrays, and the labels to decode a flat row back into a tidy record."""

    archs: np.ndarray
    chips: np.ndarray              # one C_* row per chip variant, every multiplier applied
    costs: np.ndarray              # one P_* row per chip variant
    budgets: np.ndarray
    tchips: np.ndarray             # one C_* row per timing variant (FLOP/s and bandwidth multipliers only)
    mchips: np.ndarray             # one C_* row per memory variant (capacity multiplier only)
    chip_tvars: np.ndarray         # [chip, j]: timing variants of each chip
    chip_mvars: np.ndarray         # [chip, j]: memory variants of each chip
    tvar_variants: np.ndarray      # [timing variant, j]: the chip variants that share it
    variant_tchip: np.ndarray      # [chip variant]: its timing variant
    variant_mchip: np.ndarray      # [chip variant]: its memory variant
    variant_mslot: np.ndarray      # [chip variant]: position of its memory variant in chip_mvars of its chip
    tps: np.ndarray
    pps: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    batches: np.ndarray
    w_bytes: float
    kv_bytes: float
    cfg: np.ndarray                # K_* row of the fixed settings: dtypes, prefill chunk, EP 1, one replica
    chip_labels: pd.DataFrame      # one row per chip variant: chip, scale_*
    model_labels: list[str]
    budget_labels: pd.DataFrame    # one row per budget variant: scale_electricity, scale_hbm_price
    skipped: list[tuple[str, str]]

    @property
    def n_blocks(self) -> int:
        """Units of parallel work: (chip, model, tp, pp)."""
        return self.chip_tvars.shape[0] * self.archs.shape[0] * self.tps.shape[0] * self.pps.shape[0]

    @property
    def n_outer(self) -> int:
        """(chip variant, model, budget, tp, pp, input, output) combinations: points without the batch axis."""
        return int(np.prod([a.shape[0] for a in (self.chips, self.archs, self.budgets, self.tps, self.pps,
                                                  self.inputs, self.outputs)], dtype=np.int64))

    @property
    def n_points(self) -> int:
        return self.n_outer * self.batches.shape[0]


def build_grid(lib: Library, spec: SweepSpec) -> Grid:
    chip_ids = spec.chips or lib.ids("chip")
    for c in chip_ids:
        lib.path("chip", c)
    budget = lib.budget(spec.budget)
    scale = spec.scale
    timing = list(itertools.product(scale.flops, scale.memory_bandwidth))
    memory = list(scale.memory_capacity)
    combos = list(itertools.product(scale.flops, scale.memory_bandwidth, scale.memory_capacity, scale.power, scale.price))
    chips, costs, labels, skipped, tchips, mchips, variant_t, variant_m, variant_slot = [], [], [], [], [], [], [], [], []
    w_bytes = dtypes.bytes_per_element(spec.weight_dtype, allowed=dtypes.WEIGHT_DTYPES, what="weight dtype")
    kv_bytes = dtypes.bytes_per_element(spec.kv_dtype, allowed=dtypes.KV_DTYPES, what="KV-cache dtype")
    for cid in chip_ids:
        chip = lib.chip(cid)
        try:
            p = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
            base_cost = chip_cost_row(chip, lib.platform_of(chip), spec.price_basis).row
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        base = pack_chip(chip, p.compute_dtype)
        t0, m0 = len(tchips), len(mchips)
        for f, bw in timing:
            row = base.copy()
            row[L.C_PEAK_FLOPS] *= f
            row[L.C_MEM_BW] *= bw
            tchips.append(row)
        for cap in memory:
            row = base.copy()
            row[L.C_MEM_BYTES] *= cap
            mchips.append(row)
        for f, bw, cap, pw, pr in combos:
            row, cost = base.copy(), base_cost.copy()
            row[L.C_PEAK_FLOPS] *= f
            row[L.C_MEM_BW] *= bw
            row[L.C_MEM_BYTES] *= cap
            row[L.C_TDP_W] *= pw
            cost[L.P_TDP_W] *= pw
            cost[L.P_HBM_GB] *= cap          # more HBM costs more
            cost[L.P_MARKET_USD] *= pr
            cost[L.P_PARTS_USD] *= pr
            chips.append(row)
            costs.append(cost)
            variant_t.append(t0 + timing.index((f, bw)))
            variant_slot.append(memory.index(cap))
            variant_m.append(m0 + memory.index(cap))
            labels.append({"chip": cid, "scale_flops": f, "scale_memory_bandwidth": bw, "scale_memory_capacity": cap,
                           "scale_power": pw, "scale_price": pr})
    if not chips:
        raise InfersimError("no chip of the sweep can run its dtypes: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    n_chip = len(chips) // len(combos)
    variant_t = np.asarray(variant_t, dtype=np.int64)
    chip_tvars = np.arange(n_chip * len(timing), dtype=np.int64).reshape(n_chip, len(timing))
    chip_mvars = np.arange(n_chip * len(memory), dtype=np.int64).reshape(n_chip, len(memory))
    tvar_variants = np.stack([np.flatnonzero(variant_t == tv) for tv in range(len(tchips))])
    central = budget_row(budget)
    budgets, blabels = [], []
    for e, h in itertools.product(spec.budget_scale.electricity, spec.budget_scale.hbm_price):
        b = central.copy()
        b[L.B_USD_PER_KWH] *= e
        b[L.B_HBM2:L.B_HBM4 + 1] *= h
        budgets.append(b)
        blabels.append({"scale_electricity": e, "scale_hbm_price": h})
    for name, values in (("tp", spec.tp), ("pp", spec.pp), ("batch", spec.batch), ("input_len", spec.input_len),
                         ("output_len", spec.output_len)):
        if not values or min(values) < 1:
            raise InfersimError(f"sweep '{spec.id}': axis {name} needs whole numbers >= 1, got {values}")
    models = [lib.architecture(m) for m in spec.models]
    for arch in models:  # the longest prompt and output of the grid must fit every model's context
        check_context(arch, max(spec.input_len), max(spec.output_len), spec.allow_long_context)
    archs = np.stack([pack_architecture(a) for a in models])
    f64 = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    return Grid(archs, np.stack(chips), np.stack(costs), np.stack(budgets), np.stack(tchips), np.stack(mchips),
                chip_tvars, chip_mvars, tvar_variants, variant_t, np.asarray(variant_m, dtype=np.int64),
                np.asarray(variant_slot, dtype=np.int64), f64(spec.tp), f64(spec.pp),
                f64(spec.input_len), f64(spec.output_len), f64(spec.batch), w_bytes, kv_bytes,
                config_row(0, 0, Precision(spec.weight_dtype, spec.kv_dtype, spec.weight_dtype, False), Mapping(),
                           Workload(1, 1, speculation=_speculation(lib, spec, models))),
                pd.DataFrame(labels), list(spec.models), pd.DataFrame(blabels), skipped)


def _speculation(lib: Library, spec: SweepSpec, models: list):
    """The sweep's speculative decoding (one model: a draft's cost is relative to its target)."""
    if not spec.speculative:
        if spec.draft_tokens is not None or spec.acceptance is not None:
            raise InfersimError(f"sweep '{spec.id}': draft_tokens and acceptance need speculative = 'mtp' or a draft "
                                "model id")
        return None
    if len(models) != 1:
        raise InfersimError(f"sweep '{spec.id}': speculative decoding needs one model (its draft's cost is relative to "
                            f"the model), got {len(models)}: split the sweep by model")
    from ..model.speculative import resolve_speculation

    return resolve_speculation(lib, models[0], spec.speculative, spec.draft_tokens, spec.acceptance)


def chip_variant_of(g: Grid, rows: np.ndarray) -> np.ndarray:
    outer = rows // g.batches.shape[0]
    per_chip = g.n_outer // g.chips.shape[0]
    return (outer // per_chip).astype(np.int64)


def records(g: Grid, rows: np.ndarray, vals: np.ndarray, kind: str) -> pd.DataFrame:
    """Tidy rows: every axis decoded, units in the column names."""
    if len(rows) == 0:
        return pd.DataFrame()
    nb = g.batches.shape[0]
    outer = rows // nb
    dims = (g.chips.shape[0], g.archs.shape[0], g.budgets.shape[0], g.tps.shape[0], g.pps.shape[0],
            g.inputs.shape[0], g.outputs.shape[0])
    c, m, b, t, p, i, o = np.unravel_index(outer, dims)
    df = pd.concat([g.chip_labels.iloc[c].reset_index(drop=True), g.budget_labels.iloc[b].reset_index(drop=True)],
                   axis=1)
    df.insert(1, "model", [g.model_labels[k] for k in m])
    df["tp"], df["pp"] = g.tps[t].astype(int), g.pps[p].astype(int)
    df["input_len"], df["output_len"] = g.inputs[i].astype(int), g.outputs[o].astype(int)
    df["batch"] = g.batches[rows % nb].astype(int)
    df["num_chips"] = df["tp"] * df["pp"]
    df["usd_per_mtok"] = vals[:, K.S_USD_PER_MTOK]
    df["user_tokens_per_s"] = vals[:, K.S_USER_TOK_S]
    df["tokens_per_s_per_chip"] = vals[:, K.S_TOK_S_PER_CHIP]
    df["ttft_s"], df["tpot_s"] = vals[:, K.S_TTFT_S], vals[:, K.S_TPOT_S]
    df["decode_bound"] = [L.BOUND_NAMES[int(x)] for x in vals[:, K.S_DECODE_BOUND]]
    df.insert(0, "kept_as", kind)
    return df
