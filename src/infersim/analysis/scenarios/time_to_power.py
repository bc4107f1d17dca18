"""Scenario kind `time_to_power`: tokens and cost over a site's first years when the grid connection
arrives after the building does, against building generation on site or renting chips meanwhile.

A site of `site_power_mw` holds as many chips as its peak power allows. Three ways to start:

- wait: chips are bought and run when the grid arrives (the building is timed to finish then);
- on-site: generation built on the site powers it from max(construction, generation lead time) until
  the grid arrives, at its own energy price, and its capital is recovered over its life from then
  on (it stays as backup once the grid is there);
- rent: the same number of chips is rented from year 0 until the grid arrives, then owned.

Money and tokens are summed year by year, not discounted (the owner's hour already carries the
cost of capital of the chips and facility).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...cost.inputs import parse_price_basis
from ...cost.tco import chip_hour_cost
from ...errors import InfersimError
from ...kernels.chip_cost import capital_recovery_factor_nb
from ...kernels.layout import HOURS_PER_YEAR
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, deploy_all, scenario_chips


def _live_fraction(year: int, start: float, end: float) -> float:
    """Share of year [year, year + 1) between start and end (years from the decision)."""
    return max(0.0, min(year + 1.0, end) - max(float(year), start))


def run_time_to_power(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    budget = lib.budget(spec.budget)
    owner_spec = spec.model_copy(update={"price_basis": "owner"})
    deps, skipped = deploy_all(lib, owner_spec, scenario_chips(lib, spec), progress)
    if not deps:
        raise InfersimError("no chip of the scenario could be deployed: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    onsite = spec.onsite_power
    build = spec.build_years.central
    horizon = int(math.ceil(spec.horizon_years))
    rate = budget.finance.cost_of_capital_per_year.central
    site_kw = spec.site_power_mw * 1e3
    rows, years = [], []
    for d in deps:
        chip = lib.chip(d.chip_id)
        plat = lib.platform_of(chip)
        own = chip_hour_cost(chip, budget, "owner", plat)
        chips = math.floor(spec.site_power_mw * 1e6 / own.site_power_peak_w)
        tok_per_year = chips * d.result.tokens_per_s_per_chip * 3600.0 * HOURS_PER_YEAR
        owner_year = chips * own.total_usd_per_hour * HOURS_PER_YEAR
        grid_kwh = budget.facility.electricity_usd_per_kwh.central
        energy_kwh_year = chips * own.site_power_avg_w / 1e3 * HOURS_PER_YEAR
        onsite_energy_delta = energy_kwh_year * (onsite.energy_usd_per_kwh.central - grid_kwh)
        onsite_capex_year = onsite.capex_usd_per_kw.central * site_kw * capital_recovery_factor_nb(rate, onsite.life_years)
        rent = None
        if spec.rent_basis:
            try:
                rent = chip_hour_cost(chip, budget, parse_price_basis(spec.rent_basis), plat).total_usd_per_hour
            except InfersimError as exc:
                skipped.append((f"{d.chip_id} (renting meanwhile)", str(exc)))
        for g in spec.grid_delay_years:
            grid_live = max(build, g)
            onsite_live = max(build, onsite.years_to_power.central)
            plans = {"wait for the grid": [], "on-site generation": []}
            if rent is not None:
                plans["rent until the grid"] = []
            for y in range(horizon):
                grid_share = _live_fraction(y, grid_live, horizon)
                on_share = _live_fraction(y, onsite_live, horizon)
                early = _live_fraction(y, onsite_live, grid_live)          # on-site power, grid not yet there
                plans["wait for the grid"].append((grid_share * tok_per_year, grid_share * owner_year))
                plans["on-site generation"].append((on_share * tok_per_year, on_share * owner_year
                                                    + early * onsite_energy_delta + on_share * onsite_capex_year))
                if rent is not None:
                    rented = _live_fraction(y, 0.0, grid_live)
                    plans["rent until the grid"].append(((grid_share + rented) * tok_per_year,
                                                         grid_share * owner_year + rented * chips * rent * HOURS_PER_YEAR))
            for name, series in plans.items():
                tok = np.array([t for t, _ in series])
                usd = np.array([c for _, c in series])
                first = {"wait for the grid": grid_live, "on-site generation": onsite_live,
                         "rent until the grid": 0.0}[name]
                rows.append({"chip": d.chip_id, "chips_at_site": chips, "grid_delay_years": g, "strategy": name,
                             "first_tokens_year": first, "tokens_over_horizon": tok.sum(), "usd_over_horizon": usd.sum(),
                             "usd_per_mtok_over_horizon": usd.sum() / tok.sum() * 1e6 if tok.sum() > 0 else float("nan"),
                             "tokens_first_5_years": tok[:5].sum(), "usd_first_5_years": usd[:5].sum()})
                years += [{"chip": d.chip_id, "grid_delay_years": g, "strategy": name, "year": y,
                           "tokens": tok[y], "usd": usd[y]} for y in range(horizon)]
    detail = pd.DataFrame(rows)
    wait = detail[detail["strategy"] == "wait for the grid"].set_index(["chip", "grid_delay_years"])
    detail["tokens_vs_waiting"] = [r.tokens_over_horizon / wait.loc[(r.chip, r.grid_delay_years), "tokens_over_horizon"]
                                   for r in detail.itertuples()]
    head = detail[["chip", "grid_delay_years", "strategy", "first_tokens_year", "tokens_over_horizon",
                   "tokens_vs_waiting", "usd_over_horizon", "usd_per_mtok_over_horizon"]]
    first = detail[detail["chip"] == deps[0].chip_id]
    parts = []
    for g, sub in first.groupby("grid_delay_years"):
        s = sub.set_index("strategy")
        parts.append(f"grid after {g:g} years: on-site serves {s.loc['on-site generation', 'tokens_vs_waiting']:.1f}x "
                     f"the tokens of waiting at ${s.loc['on-site generation', 'usd_per_mtok_over_horizon']:.3f}/M"
                     + (f", renting {s.loc['rent until the grid', 'tokens_vs_waiting']:.1f}x at "
                        f"${s.loc['rent until the grid', 'usd_per_mtok_over_horizon']:.3f}/M"
                        if "rent until the grid" in s.index else "")
                     + f" (waiting ${s.loc['wait for the grid', 'usd_per_mtok_over_horizon']:.3f}/M)")
    summary = (f"{deps[0].chip_id}, a {spec.site_power_mw:g} MW site ({int(first['chips_at_site'].iloc[0]):,} chips) over "
               f"{horizon} years: " + "; ".join(parts) + ".")
    return ScenarioResult(spec, head, summary, {"strategies": detail, "by_year": pd.DataFrame(years)}, skipped)
