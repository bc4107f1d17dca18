"""Choose the parallel mapping for a chip count (or the smallest count that fits, and wider ones).

Candidates (pruned, not exhaustive): attention tp a power of two up to min(scale-up domain,
attention heads); pp any stage count up to the layer count. Mixture-of-experts models add
attention data parallelism (attn_dp: powers of two, and the whole count over tp) with the experts spread over the tp x attn_dp
chips (ep = tp x attn_dp, or ep = attn_dp with each expert split over a tp group), groups that may
span the scale-up domain and the scale-out network, and chip counts up to 16x the fewest that fit;
without attention DP, ep is 1 or tp. Replicas fill the chip count. Every candidate is evaluated by
the same numba kernel in one batched call, and the best is taken for the objective: 'throughput'
(system output tokens/s per chip) or 'latency' (TPOT, then TTFT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .. import units
from ..errors import CapacityError, InfersimError
from ..kernels import layout as L
from ..kernels.step import evaluate_rows_nb, new_result_matrix
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from .configuration import Mapping, Precision, Workload, config_row
from .evaluate import Result, result_from_row
from .packing import packed_architecture, packed_chip

Objective = Literal["throughput", "latency"]
MAX_CHIPS = 100_000
# assumption: an accelerator server holds 8 cards (HGX/UBB boards, and the 8-slot PCIe servers
# that L40S, H100 PCIe/NVL and RTX cards are sold in); a CPU server is its scale-up domain (sockets)
SERVER_ACCELERATORS = 8


def tp_candidates(chip: ChipSpec, arch: Architecture) -> list[int]:
    limit = min(chip.interconnect.scaleup_domain_chips, arch.n_heads)
    out, tp = [], 1
    while tp <= limit:
        out.append(tp)
        tp *= 2
    return out


MOE_CHIP_COUNT_FACTOR = 16   # MoE searches try chip counts up to this multiple of the fewest that fit
MAX_ATTN_DP_PP = 2           # with attention DP, pipeline stages beyond this are not tried (engines do not combine them)


def _moe_splits(arch: Architecture, tp: int, n: int) -> list[tuple[int, int]]:
    """(attn_dp, ep) pairs for attention tp on at most n chips per stage: attn_dp 1 with ep 1 or tp; wider
    attn_dp (powers of two) with ep over every chip, or over the groups with each expert split by tp."""
    if not arch.is_moe:
        return [(1, 1)]
    out = [(1, 1)] + ([(1, tp)] if 1 < tp <= arch.n_experts else [])
    dps, dp = set(), 2
    while tp * dp <= n:
        dps.add(dp)
        dp *= 2
    if n % tp == 0 and n // tp > 1:
        dps.add(n // tp)  # the whole count as one replica (e.g. 144 = 18 nodes of 8)
    for dp in sorted(dps):
        out += [(dp, ep) for ep in dict.fromkeys((tp * dp, dp)) if ep <= arch.n_experts]
    return out


@dataclass(frozen=True)
class SearchResult:
    best: Result
    candidates: int
    min_chips: int
    chip_counts: tuple[int, ...] = ()  # the chip counts the search tried


@dataclass(frozen=True)
class Targets:
    """Latency targets a configuration must meet (None: no limit)."""

    max_ttft_s: float | None = None
    max_tpot_s: float | None = None

    @property
    def any(self) -> bool:
        return self.max_ttft_s is not None or self.max_tpot_s is not None


def _evaluate(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
              cands: list[tuple[Mapping, int]]) -> np.ndarray:
    cfgs = np.stack([config_row(0, 0, precision, m, workload, b) for m, b in cands])
    out = new_result_matrix(len(cands))
    # serial: a search is a few hundred rows (~1 us each); a parallel region would cost more under load
    evaluate_rows_nb(packed_architecture(arch), packed_chip(chip, precision.compute_dtype), cfgs, out)
    return out


def min_chips_to_fit(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
                     batch: int = 1) -> tuple[int, Mapping]:
    """The smallest tp x pp holding weights, KV for `batch` sequences and activations."""
    # at most MAX_CHIPS chips: the candidate list is bounded whatever the layer count
    candidates = [Mapping(tp=tp, pp=pp) for tp in tp_candidates(chip, arch)
                  for pp in range(1, min(arch.n_layers, MAX_CHIPS // tp) + 1)]
    out = _evaluate(chip, arch, precision, workload, [(m, max(batch, 1)) for m in candidates])
    fits = out[:, L.R_FITS] == 1.0
    if not fits.any() and batch > 1:
        ones = _evaluate(chip, arch, precision, workload, [(m, 1) for m in candidates])
        if (ones[:, L.R_FITS] == 1.0).any():
            largest = int(ones[:, L.R_MAX_BATCH].max())
            raise CapacityError(
                f"batch {batch:,} does not fit: the KV cache of {batch:,} sequences of {workload.input_len:,}+"
                f"{workload.output_len:,} tokens exceeds the memory of {chip.id} even split over "
                f"{max(c.tp * c.pp for c in candidates):,} chips (largest batch {largest:,}): lower --batch")
    if not fits.any():
        tiny = _evaluate(chip, arch, precision, Workload(1, 1, workload.prefill_chunk), [(m, 1) for m in candidates])
        if (tiny[:, L.R_FITS] == 1.0).any():  # the weights fit: one sequence's context is what does not
            raise CapacityError(
                f"one sequence of {workload.input_len:,}+{workload.output_len:,} tokens does not fit: its KV cache "
                f"and activations exceed the memory of {chip.id} even split over "
                f"{max(c.tp * c.pp for c in candidates):,} chips: shorten --input-len / --output-len")
        mem = chip.memory.main
        need = arch.total_params() * precision.weight_bytes
        raise CapacityError(
            f"{arch.id} ({units.bytes_to_gb(need):.0f} GB of {precision.weight_dtype} weights) does not fit "
            f"{chip.id} even split over {max(c.tp * c.pp for c in candidates):,} chips "
            f"({units.bytes_to_gb(mem.capacity_bytes):.2f} GB each): use a narrower --weight-dtype or a shorter context"
        )
    chips = np.array([m.tp * m.pp for m in candidates], dtype=float)
    chips[~fits] = np.inf
    i = int(np.argmin(chips))  # ties: the first, i.e. the smallest tp
    return int(chips[i]), candidates[i]


def server_chips(chip: ChipSpec) -> int:
    """Chips in one server as users deploy them: the scale-up domain, and at least a full
    8-card server for accelerators without one (PCIe cards: scaleup_domain_chips = 1 or 2)."""
    domain = chip.interconnect.scaleup_domain_chips
    return domain if chip.kind == "cpu" else max(domain, SERVER_ACCELERATORS)


def chip_counts(chip: ChipSpec, need: int, num_chips: int | None, moe: bool = False) -> list[int]:
    """The chip counts to try: the one given, or the fewest that fit plus powers of two above it
    up to a server or the scale-up domain, whichever is larger (at most 8x the fewest), so a tight
    fit is not the only option: an 8-card PCIe server is tried as well as the 2 cards that hold
    the weights. For a mixture-of-experts model (`moe`) up to 16x the fewest whatever the domain:
    expert parallelism pays off wider than a server."""
    if num_chips is not None:
        return [num_chips]
    counts = {need}
    top = min(max(need, server_chips(chip)), 8 * need)
    if moe:
        top = max(top, MOE_CHIP_COUNT_FACTOR * need)
    n = 1
    while n <= top:
        if n > need:
            counts.add(n)
        n *= 2
    return sorted(counts)


def candidate_mappings(chip: ChipSpec, arch: Architecture, n: int, need: int) -> list[Mapping]:
    """Mappings of all n chips (replicas of tp x pp x attn_dp chips, >= need, dividing n) that may hold
    the model, pruned as the module says."""
    out = []
    for tp in tp_candidates(chip, arch):
        for attn_dp, ep in _moe_splits(arch, tp, n):
            top_pp = arch.n_layers if attn_dp == 1 else MAX_ATTN_DP_PP
            for pp in range(1, min(top_pp, n // (tp * attn_dp)) + 1):
                if tp * pp * attn_dp < need or n % (tp * pp * attn_dp):  # cannot hold the model, or leaves chips idle
                    continue
                out.append(Mapping(tp=tp, pp=pp, ep=ep, replicas=n // (tp * pp * attn_dp), attn_dp=attn_dp))
    return out


def _meets(out: np.ndarray, targets: Targets) -> np.ndarray:
    ok = out[:, L.R_FITS] == 1.0
    if targets.max_ttft_s is not None:
        ok &= out[:, L.R_TTFT_S] <= targets.max_ttft_s
    if targets.max_tpot_s is not None:
        ok &= out[:, L.R_TPOT_S] <= targets.max_tpot_s
    return ok


def search(chip: ChipSpec, arch: Architecture, precision: Precision, workload: Workload,
           num_chips: int | None = None, batch: int = 0, objective: Objective = "throughput",
           targets: Targets = Targets()) -> SearchResult:
    """Best chip count, mapping and batch for the objective.

    throughput: the most output tokens/s per chip; latency: the lowest TPOT (then TTFT, then
    fewer chips). With targets, only configurations meeting them count, and the batch is the
    largest that meets them (when not given)."""
    if objective not in ("throughput", "latency"):
        raise InfersimError(f"objective must be 'throughput' or 'latency', got '{objective}'")
    if batch < 0:
        raise InfersimError(f"batch must be >= 1 (or 0 for the largest that fits), got {batch}")
    need, _ = min_chips_to_fit(chip, arch, precision, workload, max(batch, 1))
    if num_chips is not None and not 1 <= num_chips <= MAX_CHIPS:
        raise InfersimError(f"--num-chips must be between 1 and {MAX_CHIPS}, got {num_chips}")
    if num_chips is not None and num_chips < need:
        raise CapacityError(
            f"{arch.id} with {precision.weight_dtype} weights needs at least {need} x {chip.id} "
            f"(batch {max(batch, 1)}, {workload.input_len}+{workload.output_len} tokens); got --num-chips {num_chips}: "
            f"raise --num-chips to {need} or use a narrower --weight-dtype"
        )
    if objective == "latency" and batch == 0:
        batch = 1
    counts = chip_counts(chip, need, num_chips, arch.is_moe)
    mappings = [m for n in counts for m in candidate_mappings(chip, arch, n, need)]
    cands = [(m, batch) for m in mappings]
    out = _evaluate(chip, arch, precision, workload, cands)
    if targets.any and batch == 0:
        # smaller batches for every mapping that fits: powers of two below its largest batch
        extra = [(m, b) for (m, _), r in zip(cands, out) if r[L.R_FITS] == 1.0
                 for b in (2 ** k for k in range(int(np.log2(max(r[L.R_MAX_BATCH], 1))) + 1)) if b < r[L.R_MAX_BATCH]]
        if extra:
            cands += extra
            out = np.vstack([out, _evaluate(chip, arch, precision, workload, extra)])
    ok = _meets(out, targets)
    if not ok.any():
        if targets.any and (out[:, L.R_FITS] == 1.0).any():
            fastest = np.nanmin(np.where(out[:, L.R_FITS] == 1.0, out[:, L.R_TPOT_S], np.nan))
            limits = ", ".join(f"{name} <= {units.s_to_ms(v):g} ms" for name, v in
                               (("TTFT", targets.max_ttft_s), ("TPOT", targets.max_tpot_s)) if v is not None)
            raise InfersimError(
                f"no configuration of {arch.id} on {chip.id} meets {limits} (fastest TPOT "
                f"{units.s_to_ms(fastest):.1f} ms): relax the targets or add chips"
            )
        raise CapacityError(f"no mapping of {arch.id} on {chip.id} fits batch {batch}: lower --batch or add chips")
    chips = out[:, L.R_CHIPS]
    if objective == "throughput":
        score = np.where(ok, out[:, L.R_SYSTEM_TOK_S] / chips, -np.inf)
        i = int(np.argmax(score))
    else:
        key = np.where(ok, out[:, L.R_TPOT_S], np.inf)
        best = key.min()
        near = ok & (key <= best * (1 + 1e-9))
        ttft = np.where(near, out[:, L.R_TTFT_S], np.inf)
        near &= ttft <= ttft.min() * (1 + 1e-9)
        i = int(np.argmin(np.where(near, chips, np.inf)))
    m, _ = cands[i]
    return SearchResult(result_from_row(chip, arch, precision, m, out[i]), len(cands), need, tuple(counts))
