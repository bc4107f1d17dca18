"""Scenario kind `pairwise_advantage`: the $/M-token advantage of each ASIC over each GPU, with
Monte Carlo bands and the inputs that move it (the 40-65 % ASIC claim)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...cost.tco import monte_carlo_chip_hour, tornado
from ...errors import InfersimError
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, deploy_all, deployment_record, scenario_chips

ASIC_CLAIM_RANGE = (0.40, 0.65)  # the claimed ASIC TCO advantage over GPUs (inference), tested here


def run_pairwise_advantage(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    asics, gpus = scenario_chips(lib, spec), spec.baseline_chips
    deps, skipped = deploy_all(lib, spec, asics + gpus, progress)
    by_id = {d.chip_id: d for d in deps}
    budget = lib.budget(spec.budget)
    specs = [lib.chip(d.chip_id) for d in deps]
    platforms = [lib.platform_of(c) for c in specs]
    samples = monte_carlo_chip_hour(specs, platforms, budget, spec.price_basis, spec.samples, spec.seed).total
    per_mtok = samples * np.array([d.per_chip_hour for d in deps])[None, :]
    col = {d.chip_id: i for i, d in enumerate(deps)}
    lo, hi = ASIC_CLAIM_RANGE
    rows, drivers = [], []
    for a in asics:
        for g in gpus:
            if a not in by_id or g not in by_id:
                continue
            adv = 1.0 - per_mtok[:, col[a]] / per_mtok[:, col[g]]
            p10, p50, p90 = np.percentile(adv, [10, 50, 90])
            pa, pg = lib.chip(a), lib.chip(g)
            tor = tornado([pa, pg], [lib.platform_of(pa), lib.platform_of(pg)], budget, lambda c, fa=by_id[a].per_chip_hour, fg=by_id[g].per_chip_hour:
                          1.0 - c[0] * fa / (c[1] * fg), spec.price_basis)
            top = tor.head(3)
            for r in tor.itertuples(index=False):
                drivers.append({"asic": a, "gpu": g, "input": r.input, "low_value": r.low_value,
                                "high_value": r.high_value, "advantage_at_low": r.metric_at_low,
                                "advantage_at_high": r.metric_at_high, "swing": r.swing})
            rows.append({
                "asic": a, "gpu": g, "asic_usd_per_mtok": by_id[a].usd_per_mtok, "gpu_usd_per_mtok": by_id[g].usd_per_mtok,
                "advantage_central": 1.0 - by_id[a].usd_per_mtok / by_id[g].usd_per_mtok,
                "advantage_p10": p10, "advantage_p50": p50, "advantage_p90": p90,
                "prob_in_40_65": float(np.mean((adv >= lo) & (adv <= hi))),
                "top_drivers": "; ".join(
                    f"{r.input} {r.metric_at_low:+.0%}..{r.metric_at_high:+.0%}" for r in top.itertuples(index=False)),
            })
    head = pd.DataFrame(rows)
    if head.empty:
        raise InfersimError("no ASIC/GPU pair could be deployed: see the skipped chips")
    inside = head[(head["advantage_p50"] >= lo) & (head["advantage_p50"] <= hi)]
    summary = (f"{len(inside)} of {len(head)} ASIC/GPU pairs have a median $/M-token advantage inside "
               f"{lo:.0%}-{hi:.0%} (median of all pairs {head['advantage_p50'].median():+.0%}); "
               f"the inputs that move it most: {_most_common_driver(pd.DataFrame(drivers))}.")
    deploy_table = pd.DataFrame([deployment_record(d) for d in deps])
    return ScenarioResult(spec, head, summary, {"deployments": deploy_table, "drivers": pd.DataFrame(drivers)},
                          skipped)


def _most_common_driver(drivers: pd.DataFrame) -> str:
    if drivers.empty:
        return "-"
    top = drivers.sort_values("swing", ascending=False).groupby(["asic", "gpu"]).head(2)
    return ", ".join(top["input"].value_counts().head(3).index)
