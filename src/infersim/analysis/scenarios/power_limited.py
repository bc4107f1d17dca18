"""Scenario kind `power_limited`: output tokens/s and cost of a site with a fixed power cap."""

from __future__ import annotations

import math

import pandas as pd

from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, deploy_all, require_results, scenario_chips


def run_power_limited(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    deps, skipped = deploy_all(lib, spec, scenario_chips(lib, spec), progress)
    require_results(spec, deps, skipped)
    site_w = spec.site_power_mw * 1e6
    rows = []
    for d in deps:
        unit = d.result.mapping.chips                      # chips of one deployment
        per_unit_w = unit * d.site_power_peak_w           # provisioned for peak draw
        units = math.floor(site_w / per_unit_w)
        chips = units * unit
        rows.append({"chip": d.chip_id, "chip_kind": d.kind, "chips_at_site": chips, "deployments": units,
                     "site_output_tokens_per_s": units * d.result.system_tokens_per_s,
                     "tokens_per_s_per_mw_peak": d.result.system_tokens_per_s / (per_unit_w / 1e6),
                     "usd_per_mtok": d.usd_per_mtok, "site_usd_per_hour": chips * d.usd_per_chip_hour,
                     "site_capex_chips_usd": chips * d.chip_price_usd})
    head = pd.DataFrame(rows).sort_values("site_output_tokens_per_s", ascending=False).reset_index(drop=True)
    cheapest = head.sort_values("usd_per_mtok").iloc[0]
    summary = (f"at {spec.site_power_mw:g} MW, {head.iloc[0]['chip']} serves the most tokens "
               f"({head.iloc[0]['site_output_tokens_per_s'] / 1e6:.2f} M tok/s, ${head.iloc[0]['usd_per_mtok']:.3f}/M); "
               f"the cheapest per token is {cheapest['chip']} (${cheapest['usd_per_mtok']:.3f}/M, "
               f"{cheapest['site_output_tokens_per_s'] / 1e6:.2f} M tok/s).")
    return ScenarioResult(spec, head, summary, {}, skipped)
