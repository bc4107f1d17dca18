"""$/chip-hour by component, $/M tokens, tokens/s per MW, Monte Carlo bands and the tornado."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..kernels import layout as L
from ..kernels.chip_cost import chip_hour_cost_nb, monte_carlo_chip_hour_nb
from ..model.configuration import Workload
from ..model.evaluate import Result
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec
from .inputs import PriceBasis, budget_field_name, budget_ranges, budget_row, chip_cost_row

COMPONENTS = ("chip", "hbm", "server", "network", "facility", "power", "upkeep")


@dataclass(frozen=True)
class ChipHourCost:
    """$/hour of one deployed chip (chip_usd_per_hour includes hbm_usd_per_hour)."""

    chip_id: str
    chip_usd_per_hour: float
    hbm_usd_per_hour: float
    server_usd_per_hour: float
    network_usd_per_hour: float
    facility_usd_per_hour: float
    power_usd_per_hour: float
    upkeep_usd_per_hour: float
    total_usd_per_hour: float
    chip_price_usd: float
    it_power_avg_w: float
    site_power_avg_w: float
    site_power_peak_w: float

    def components(self) -> dict[str, float]:
        return {c: getattr(self, f"{c}_usd_per_hour") for c in COMPONENTS}


def _breakdown(chip_id: str, out: np.ndarray) -> ChipHourCost:
    return ChipHourCost(chip_id, *(float(out[i]) for i in range(L.CC_FIELDS)))


def chip_hour_cost(chip: ChipSpec, budget: BudgetSpec, basis: PriceBasis = "auto") -> ChipHourCost:
    """Central-case $/hour of one deployed chip."""
    row, _ = chip_cost_row(chip, basis)
    out = np.zeros(L.CC_FIELDS)
    chip_hour_cost_nb(row, budget_row(budget), out)
    return _breakdown(chip.id, out)


@dataclass(frozen=True)
class TokenCost:
    usd_per_hour: float                 # all chips of the deployment
    usd_per_mtok: float                 # all cost on output tokens
    usd_per_mtok_input: float           # prefill's share of the cost per input token
    usd_per_mtok_output_decode: float   # decode's share of the cost per output token
    tokens_per_s_per_mw: float          # output tokens/s per MW of site power (PUE included)


def token_cost(result: Result, cost: ChipHourCost, workload: Workload) -> TokenCost:
    if not result.fits or not result.system_tokens_per_s > 0:
        raise InfersimError(f"{result.chip}: no throughput to price (the configuration does not fit)")
    chips = result.mapping.chips
    usd_h = cost.total_usd_per_hour * chips
    out_tok_h = result.system_tokens_per_s * 3600.0
    in_tok_h = out_tok_h * workload.input_len / workload.output_len
    share = result.prefill_time_share
    return TokenCost(
        usd_per_hour=usd_h,
        usd_per_mtok=usd_h / out_tok_h * 1e6,
        usd_per_mtok_input=usd_h * share / in_tok_h * 1e6,
        usd_per_mtok_output_decode=usd_h * (1.0 - share) / out_tok_h * 1e6,
        tokens_per_s_per_mw=result.system_tokens_per_s / (chips * cost.site_power_avg_w / 1e6),
    )


def usd_per_mtok_per_chip_hour(result: Result) -> float:
    """$/M output tokens per $ of chip-hour: multiply by $/chip-hour to get $/M tokens."""
    return result.mapping.chips / (result.system_tokens_per_s * 3600.0) * 1e6


def monte_carlo_chip_hour(chips: list[ChipSpec], budget: BudgetSpec, basis: PriceBasis = "auto",
                          n_samples: int = 20_000, seed: int = 0,
                          ranges: np.ndarray | None = None) -> np.ndarray:
    """(n_samples, n_chips) $/chip-hour. Every budget range is a triangular distribution
    (low, central, high) shared by all chips of a sample; each chip's price input has its own."""
    if n_samples < 100:
        raise InfersimError(f"use at least 100 Monte Carlo samples (got {n_samples})")
    rows, price_ranges = zip(*(chip_cost_row(c, basis) for c in chips))
    rng = np.random.default_rng(seed)
    u_budget = rng.random((n_samples, L.B_FIELDS))
    u_chips = rng.random((n_samples, len(chips)))
    out = np.zeros((n_samples, len(chips)))
    br = budget_ranges(budget) if ranges is None else ranges
    monte_carlo_chip_hour_nb(np.stack(rows), np.stack(price_ranges), br, u_budget, u_chips, out)
    return out


def percentiles(samples: np.ndarray, q=(10, 50, 90)) -> np.ndarray:
    return np.percentile(samples, q, axis=0)


def tornado(chips: list[ChipSpec], budget: BudgetSpec, metric, basis: PriceBasis = "auto") -> pd.DataFrame:
    """Swing of `metric` (a function of the list of $/chip-hour, one per chip) when each input
    moves to its low and its high with everything else central. Sorted by swing."""
    rows, price_ranges = zip(*(chip_cost_row(c, basis) for c in chips))
    rows = [r.copy() for r in rows]
    central_budget = budget_row(budget)
    br = budget_ranges(budget)
    comp = np.zeros(L.CC_FIELDS)

    def evaluate(budget_vec, chip_rows):
        return metric([chip_hour_cost_nb(r, budget_vec, comp) for r in chip_rows])

    base = evaluate(central_budget, rows)
    records = []
    for k in range(L.B_FIELDS):
        lo_v, hi_v = br[k, 0], br[k, 2]
        if lo_v == hi_v:
            continue
        vals = []
        for v in (lo_v, hi_v):
            b = central_budget.copy()
            b[k] = v
            vals.append(evaluate(b, rows))
        records.append((budget_field_name(k), lo_v, hi_v, *vals))
    for i, chip in enumerate(chips):
        field = L.P_MARGIN if rows[i][L.P_BOM] == 1.0 else L.P_MARKET_USD
        name = f"{chip.id}.{'gross_margin' if field == L.P_MARGIN else 'market_price_usd'}"
        lo_v, hi_v = price_ranges[i][0], price_ranges[i][2]
        if lo_v == hi_v:
            continue
        vals = []
        for v in (lo_v, hi_v):
            changed = [r.copy() for r in rows]
            changed[i][field] = v
            vals.append(evaluate(central_budget, changed))
        records.append((name, lo_v, hi_v, *vals))
    df = pd.DataFrame(records, columns=["input", "low_value", "high_value", "metric_at_low", "metric_at_high"])
    df["swing"] = (df["metric_at_high"] - df["metric_at_low"]).abs()
    df["central_metric"] = base
    return df.sort_values("swing", ascending=False).reset_index(drop=True)
