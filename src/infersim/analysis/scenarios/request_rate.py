"""Scenario kind `request_rate`: $/M tokens against request rate (where CPU-only serving is cheapest)."""

from __future__ import annotations

import math

import pandas as pd

from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, deploy_all, require_results, scenario_chips


def run_request_rate(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    """At a low request rate a deployment idles but is paid for by the hour: the smallest
    deployment of each chip, replicated as the rate grows."""
    deps, skipped = deploy_all(lib, spec, scenario_chips(lib, spec), progress, smallest=True)
    require_results(spec, deps, skipped)
    rows = []
    for d in deps:
        capacity_rps = d.result.system_tokens_per_s / spec.output_len   # requests/s one deployment serves
        unit_usd_h = d.result.mapping.chips * d.usd_per_chip_hour
        for rate in spec.request_rates_per_s:
            units = max(1, math.ceil(rate / capacity_rps))
            tokens_h = rate * spec.output_len * 3600.0
            rows.append({"chip": d.chip_id, "chip_kind": d.kind, "request_rate_per_s": rate, "deployments": units,
                         "chips": units * d.result.mapping.chips, "usd_per_hour": units * unit_usd_h,
                         "utilisation": rate / (units * capacity_rps), "usd_per_mtok": units * unit_usd_h / tokens_h * 1e6})
    pts = pd.DataFrame(rows)
    head_rows = []
    for rate, g in pts.groupby("request_rate_per_s"):
        row = {"request_rate_per_s": rate, "cheapest": g.loc[g["usd_per_mtok"].idxmin(), "chip"]}
        for kind in ("cpu", "gpu", "asic"):
            k = g[g["chip_kind"] == kind]
            if len(k):
                best = k.loc[k["usd_per_mtok"].idxmin()]
                row[f"best_{kind}"] = best["chip"]
                row[f"best_{kind}_usd_per_mtok"] = best["usd_per_mtok"]
        head_rows.append(row)
    head = pd.DataFrame(head_rows)
    parts = []
    for other in ("gpu", "asic"):
        if "best_cpu_usd_per_mtok" in head and f"best_{other}_usd_per_mtok" in head:
            wins = head[head["best_cpu_usd_per_mtok"] < head[f"best_{other}_usd_per_mtok"]]["request_rate_per_s"]
            parts.append(f"the cheapest CPU beats every {other.upper()} " + _rates_phrase(list(wins), list(head["request_rate_per_s"])))
    summary = ("; ".join(parts) + f" (smallest deployments, replicated; {spec.model}, "
               f"{spec.input_len}+{spec.output_len} tokens).") if parts else "no CPU in this scenario."
    return ScenarioResult(spec, head, summary, {"points": pts}, skipped)


def _rates_phrase(wins: list[float], rates: list[float]) -> str:
    """'up to X requests/s' when the wins are the lowest rates, else the rates themselves."""
    if not wins:
        return "at no rate tried"
    if wins == sorted(rates)[: len(wins)]:
        return f"up to {max(wins):g} requests/s"
    return "only at " + ", ".join(f"{w:g}" for w in wins) + " requests/s"
