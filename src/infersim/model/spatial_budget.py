"""Spatial dataflow chips (a [spatial] section in the chip spec): the per-layer latency budget of
one token (compute, on-chip fabric, chip-to-chip), the weight-streaming mode, and the vendor's
speculative decoding. The time itself comes from kernels/spatial_step.py, the same kernel
evaluate/search use for these chips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..kernels import layout as L
from ..kernels import spatial_step as S
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from .configuration import Mapping, Precision, Workload, check_mapping, config_row, deployment_row
from .evaluate import Result, result_from_row
from .packing import pack_architecture, pack_chip
from .speculative import Speculation, speculative_decode


def require_spatial(chip: ChipSpec) -> None:
    if chip.spatial is None:
        raise InfersimError(f"chip '{chip.id}' has no [spatial] section: the spatial model applies to spatial dataflow "
                            f"chips only (those with one: see `infersim specs list`)")


@dataclass(frozen=True)
class LayerBudget:
    """Where one decode step's time goes on a spatial chip, for the whole model (seconds)."""

    chip: str
    model: str
    mapping: Mapping
    batch: int
    layers: int
    regions_per_chip: int       # layer regions the compiler lays out on each chip
    tokens_in_flight: int       # micro-batches the pipeline holds: pp x regions per chip
    compute_s: float            # operators on their regions, every layer + embedding + LM head
    fabric_s: float             # on-chip fabric traversals
    c2c_layer_s: float          # collectives inside layers (tensor-parallel all-reduce, expert all-to-all)
    c2c_stage_s: float          # stage-to-stage sends (pp - 1 hops)
    head_compute_s: float       # embedding + LM head compute, part of compute_s
    head_fabric_s: float        # their fabric traversals, part of fabric_s
    overhead_s: float           # the chip's fixed per-step overhead
    streaming_fraction: float   # share of the weights streamed from the capacity tier (0: resident, 1: streaming mode)

    @property
    def pass_s(self) -> float:
        return self.compute_s + self.fabric_s + self.c2c_layer_s + self.c2c_stage_s

    @property
    def tpot_s(self) -> float:
        return self.pass_s + self.overhead_s

    def per_token(self) -> dict[str, float]:
        """Seconds of each part over all layers of one step (the embedding and LM head apart)."""
        return {"compute": self.compute_s - self.head_compute_s, "fabric": self.fabric_s - self.head_fabric_s,
                "c2c_in_layer": self.c2c_layer_s, "c2c_stage_hops": self.c2c_stage_s}

    def per_layer(self) -> dict[str, float]:
        """Average seconds per layer of each part."""
        return {k: v / self.layers for k, v in self.per_token().items()}


def _scratch():
    return (np.zeros(L.N_OPS), np.zeros(L.N_OPS), np.zeros(L.N_OPS), np.zeros(L.N_OPS),
            np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3), np.zeros(L.N_OPS), np.zeros(L.N_OPS), np.zeros(L.N_OPS))


def decode_budget(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping, workload: Workload,
                  batch: int = 1, stream: bool = False) -> LayerBudget:
    """The decode step's budget at `batch` sequences, in the layout evaluate() chooses for it."""
    require_spatial(chip)
    check_mapping(chip, arch, mapping)
    a = pack_architecture(arch)
    c = pack_chip(chip, precision.compute_dtype)
    if stream and not chip.spatial.weight_streaming:
        raise InfersimError(f"chip '{chip.id}' has no weight-streaming mode (spatial.weight_streaming is false)")
    frac = 1.0 if stream else 0.0
    flops, nbytes, count, times, bounds, bt, wf, wb, wc = _scratch()
    past = workload.input_len + (workload.output_len - 1) / 2.0
    dep = deployment_row(precision, mapping)
    wdep = S.weights_only_dep_nb(dep)
    _, _, groups = S.spatial_decode_nb(a, c, dep, float(batch), past, frac, flops, nbytes, count, times, bounds, bt,
                                       wf, wb, wc, wdep)
    # the pass the decode step takes at that layout, with its parts
    micro = min(batch, mapping.pp * groups)
    _, compute, fabric, layer_c2c, stage_c2c, head = S.spatial_pass_nb(
        a, c, dep, batch / micro, 1.0, past, True, groups, frac, flops, nbytes, count, times, bounds, bt, wf, wb, wc,
        wdep)
    head_compute = float(sum(count[op] * times[op] for op in (L.OP_EMBED, L.OP_LM_HEAD)))
    return LayerBudget(chip.id, arch.id, mapping, batch, arch.n_layers, int(groups), int(mapping.pp * groups),
                       compute, fabric, layer_c2c, stage_c2c, head_compute, head - head_compute,
                       chip.efficiency.step_overhead_s, frac)


BASIS_KEYS = {"compute": ("weights", "regions"), "fabric": ("mesh", "fabric_hop_s", "fabric_link"),
              "c2c_in_layer": ("c2c",), "c2c_stage_hops": ("c2c",)}


def budget_table(chip: ChipSpec, b: LayerBudget) -> pd.DataFrame:
    """One row per part: seconds per layer, per token, share of the step, and the spec's basis."""
    require_spatial(chip)
    per_layer = b.per_layer()
    per_token = b.per_token()
    basis = chip.spatial.basis
    rows = []
    for part, t in per_token.items():
        why = "; ".join(f"{k}: {basis[k]}" for k in BASIS_KEYS[part] if k in basis)
        rows.append({"part": part, "per_layer_s": per_layer[part], "per_token_s": t, "share": t / b.tpot_s,
                     "basis": why})
    head = b.head_compute_s + b.head_fabric_s
    rows.append({"part": "embedding+lm_head", "per_layer_s": np.nan, "per_token_s": head, "share": head / b.tpot_s,
                 "basis": "compute and fabric of the first and last operators"})
    rows.append({"part": "step_overhead", "per_layer_s": np.nan, "per_token_s": b.overhead_s,
                 "share": b.overhead_s / b.tpot_s, "basis": chip.efficiency.basis})
    return pd.DataFrame(rows)


def evaluate_streaming(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                       workload: Workload, batch: int = 0) -> Result:
    """evaluate() in weight-streaming mode: every weight streams from the chip's capacity tier
    ([memory.host]: MemoryX, DDR, LPDDR) each step, one region per chip; the fast memory holds the
    KV cache and activations, so large batches fit on few chips."""
    require_spatial(chip)
    if not chip.spatial.weight_streaming:
        raise InfersimError(f"chip '{chip.id}' has no weight-streaming mode (spatial.weight_streaming is false)")
    check_mapping(chip, arch, mapping)
    cfg = config_row(0, 0, precision, mapping, workload, batch)
    out = np.full(L.R_FIELDS, np.nan)
    flops, nbytes, count, times, bounds, bt, *_ = _scratch()
    S.spatial_streaming_evaluate_one_nb(pack_architecture(arch), pack_chip(chip, precision.compute_dtype), cfg, out,
                                        flops, nbytes, count, times, bounds, bt)
    return result_from_row(chip, arch, precision, mapping, out)


def vendor_speculation(chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                       workload: Workload, batch: int = 1) -> Speculation | None:
    """Speculative decoding as the chip's vendor runs it (spatial.speculative), or None when the
    vendor does not (or the chip has no spatial section). The draft costs one target layer per
    drafted token, as multi-token-prediction heads do (model.speculative)."""
    sp = chip.spatial.speculative if chip.spatial is not None else None
    if sp is None or not sp.used:
        return None
    return speculative_decode(chip, arch, precision, mapping, workload, batch, sp.draft_tokens, sp.acceptance)
