"""Scenario kind `latency_vs_cost`: per-user speed bought with chips, against $/M tokens."""

from __future__ import annotations

import pandas as pd

from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from ..frontier import BATCHES, frontier_points, pareto
from .deploy import ScenarioResult, require_results, scenario_chips, scenario_workload


def run_latency_vs_cost(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    pts, skipped = frontier_points(lib, spec.model, scenario_chips(lib, spec), scenario_workload(spec, lib), spec.weight_dtype,
                                   spec.kv_dtype, lib.budget(spec.budget), spec.price_basis,
                                   batches=tuple(spec.batches) or BATCHES, progress=progress)
    require_results(spec, pts, skipped)
    frontier = _pareto(pts)
    head_rows = []
    for cid, g in pts.groupby("chip", sort=False):
        fastest = g.loc[g["user_tokens_per_s"].idxmax()]
        cheapest = g.loc[g["usd_per_mtok"].idxmin()]
        head_rows.append({"chip": cid, "chip_kind": fastest["chip_kind"],
                          "fastest_user_tokens_per_s": fastest["user_tokens_per_s"],
                          "fastest_num_chips": fastest["num_chips"], "usd_per_mtok_at_fastest": fastest["usd_per_mtok"],
                          "cheapest_usd_per_mtok": cheapest["usd_per_mtok"],
                          "user_tokens_per_s_at_cheapest": cheapest["user_tokens_per_s"],
                          # the fastest point with the speculative decoding its vendor runs (NaN: none)
                          "fastest_with_vendor_speculation": fastest["vendor_speculation_user_tokens_per_s"]})
    head = pd.DataFrame(head_rows).sort_values("fastest_user_tokens_per_s", ascending=False).reset_index(drop=True)
    f, c = head.iloc[0], head.sort_values("cheapest_usd_per_mtok").iloc[0]
    summary = (f"fastest per user: {f['chip']} at {f['fastest_user_tokens_per_s']:.0f} tok/s on {f['fastest_num_chips']:.0f} "
               f"chips (${f['usd_per_mtok_at_fastest']:.2f}/M); cheapest: {c['chip']} at ${c['cheapest_usd_per_mtok']:.3f}/M "
               f"({c['user_tokens_per_s_at_cheapest']:.0f} tok/s per user).")
    spec = head[head["fastest_with_vendor_speculation"].notna()]
    if len(spec):
        summary += " With the speculative decoding their vendors run: " + ", ".join(
            f"{r.chip} {r.fastest_with_vendor_speculation:.0f} tok/s per user" for r in spec.itertuples()) + "."
    return ScenarioResult(spec, head, summary, {"points": pts, "frontier": frontier}, skipped)


def _pareto(points: pd.DataFrame) -> pd.DataFrame:
    """Points no other point beats on both user speed (higher) and $/M tokens (lower)."""

    return pareto(points, "usd_per_mtok", True)
