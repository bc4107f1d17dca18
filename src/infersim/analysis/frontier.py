"""The throughput-interactivity frontier: tokens/s per chip and $/M tokens against tokens/s per
user, over batch sizes and mappings, chip by chip."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..cost.inputs import PriceBasis
from ..cost.tco import chip_hour_cost, token_cost
from ..errors import InfersimError
from ..model.configuration import Mapping, Workload, resolve_precision
from ..model.evaluate import evaluate
from ..model.mapping_search import min_chips_to_fit, search, tp_candidates
from ..model.spatial_budget import vendor_speculation
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec
from ..specs.library import Library
from ..specs.model_arch import Architecture

BATCHES = tuple(2 ** k for k in range(14))


def mappings_for_frontier(chip: ChipSpec, arch: Architecture, precision, workload: Workload) -> list[Mapping]:
    """The latency- and throughput-optimal mappings, and every power-of-two TP that fits on its
    own (pp = 1) or with the fewest pipeline stages."""
    out = {search(chip, arch, precision, workload, batch=1, objective=o).best.mapping for o in ("latency", "throughput")}
    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    for tp in tp_candidates(chip, arch):
        pp = max(1, -(-need // tp))
        if pp <= arch.n_layers:
            out.add(Mapping(tp=tp, pp=pp))
    return sorted(out, key=lambda m: (m.chips, m.tp))


def frontier_points(lib: Library, model: str | Architecture, chips: list[str | ChipSpec], workload: Workload,
                    weight_dtype: str, kv_dtype: str, budget: BudgetSpec | None, price_basis: PriceBasis = "owner",
                    batches=BATCHES, progress=None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One row per (chip, mapping, batch) that fits; `model` and `chips` are ids or specs. Where the
    chip's vendor runs speculative decoding ([spatial.speculative]), the per-user speed with it is
    given beside the plain one (vendor_speculation_user_tokens_per_s; NaN elsewhere)."""
    arch = model if isinstance(model, Architecture) else lib.architecture(model)
    rows, skipped = [], []
    for i, chip_or_id in enumerate(chips):
        chip = chip_or_id if isinstance(chip_or_id, ChipSpec) else lib.chip(chip_or_id)
        cid = chip.id
        if progress:
            progress(i, len(chips), cid)
        try:
            p = resolve_precision(chip, weight_dtype, kv_dtype)
            cost = chip_hour_cost(chip, budget, price_basis, lib.platform_of(chip)) if budget is not None else None
            maps = mappings_for_frontier(chip, arch, p, workload)
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        for m in maps:
            top = evaluate(chip, arch, p, m, workload).max_batch
            for b in sorted({b for b in batches if 1 <= b <= top} | ({top} if top >= 1 else set())):
                r = evaluate(chip, arch, p, m, workload, batch=b)
                if not r.fits:
                    continue
                spec = vendor_speculation(chip, arch, p, m, workload, b)
                rows.append({"chip": cid, "chip_kind": chip.kind, "mapping": m.label, "num_chips": m.chips,
                             "batch": b, "user_tokens_per_s": r.user_tokens_per_s, "tpot_s": r.tpot_s,
                             "ttft_s": r.ttft_s, "tokens_per_s_per_chip": r.tokens_per_s_per_chip,
                             "usd_per_mtok": token_cost(r, cost, workload).usd_per_mtok if cost else np.nan,
                             "vendor_speculation_user_tokens_per_s": 1.0 / spec.tpot_s if spec else np.nan})
    return pd.DataFrame(rows), skipped


def pareto(points: pd.DataFrame, y: str = "usd_per_mtok", lower_is_better: bool = True) -> pd.DataFrame:
    """Points that no other point beats on both tokens/s per user (higher) and `y`."""
    if points.empty:
        return points
    p = points.sort_values(["user_tokens_per_s", y], ascending=[False, lower_is_better])
    v = p[y].to_numpy(dtype=float) * (1.0 if lower_is_better else -1.0)
    # a point is kept when it beats every faster point before it (NaN never does, nor is it a best)
    best_before = np.fmin.accumulate(np.concatenate(([np.inf], v[:-1])))
    return p[v < best_before].reset_index(drop=True)


def per_chip_frontiers(points: pd.DataFrame, y: str, lower_is_better: bool) -> pd.DataFrame:
    return pd.concat([pareto(g, y, lower_is_better) for _, g in points.groupby("chip", sort=False)],
                     ignore_index=True) if len(points) else points
