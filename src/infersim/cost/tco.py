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
from ..specs.platform import PlatformSpec
from .inputs import Basis, PriceBasis, budget_field_name, budget_ranges, budget_row, chip_cost_row

COMPONENTS = ("chip", "hbm", "server", "scaleup", "network", "facility", "power", "upkeep", "rent")


@dataclass(frozen=True)
class ChipHourCost:
    """$/hour of one deployed chip (chip_usd_per_hour includes hbm_usd_per_hour; the optics are
    part of scaleup and network). A renter's hour is all rent."""

    chip_id: str
    chip_usd_per_hour: float
    hbm_usd_per_hour: float
    server_usd_per_hour: float
    scaleup_usd_per_hour: float
    network_usd_per_hour: float
    facility_usd_per_hour: float
    power_usd_per_hour: float
    upkeep_usd_per_hour: float
    rent_usd_per_hour: float
    total_usd_per_hour: float
    chip_price_usd: float
    it_power_avg_w: float
    site_power_avg_w: float
    site_power_peak_w: float
    power_idle_usd_per_hour: float      # power of the chip provisioned but idle (not in the total)
    optics_usd_per_hour: float          # part of scaleup + network
    optical_modules: float              # per chip, scale-up and scale-out
    basis: str = "owner"

    def components(self) -> dict[str, float]:
        return {c: getattr(self, f"{c}_usd_per_hour") for c in COMPONENTS}

    def at_utilisation(self, utilisation: float) -> float:
        """$/hour of a provisioned chip busy `utilisation` of the time (0..1): an owner's power falls
        to its idle draw when there is no load; a renter's rent does not."""
        return self.total_usd_per_hour - self.power_usd_per_hour + self.power_idle_usd_per_hour + \
            (self.power_usd_per_hour - self.power_idle_usd_per_hour) * utilisation


def _breakdown(chip_id: str, out: np.ndarray, basis: str) -> ChipHourCost:
    return ChipHourCost(chip_id, *(float(out[i]) for i in range(L.CC_FIELDS)), basis=basis)


def chip_hour_cost(chip: ChipSpec, budget: BudgetSpec, basis: PriceBasis | Basis, platform: PlatformSpec,
                   row: np.ndarray | None = None) -> ChipHourCost:
    """Central-case $/hour of one deployed chip (`row`: a P_* row to use in place of the chip's)."""
    cr = chip_cost_row(chip, platform, basis)
    out = np.zeros(L.CC_FIELDS)
    chip_hour_cost_nb(cr.row if row is None else row, budget_row(budget), out)
    return _breakdown(chip.id, out, cr.basis.text)


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


@dataclass(frozen=True)
class ChipHourSamples:
    """Monte Carlo draws, one row per sample and one column per chip: $/hour at full load, and its
    power part at full load and idle (to price a partly used fleet)."""

    total: np.ndarray
    power: np.ndarray
    power_idle: np.ndarray
    inputs: dict[str, np.ndarray] | None = None   # with keep_inputs: each uncertain input's draws, by name

    def at_utilisation(self, utilisation) -> np.ndarray:
        """$/hour of a provisioned chip busy `utilisation` (scalar or per chip) of the time."""
        return self.total - self.power + self.power_idle + (self.power - self.power_idle) * utilisation


def shared_uniforms(rows, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_samples, n_chips, P_FIELDS) uniforms; fields with the same source (one platform's server
    cost for two chips on it) get the same column."""
    cols: dict[str, np.ndarray] = {}
    u = np.empty((n_samples, len(rows), L.P_FIELDS))
    for c, cr in enumerate(rows):
        for j, src in enumerate(cr.sources):
            if src not in cols:
                cols[src] = rng.random(n_samples)
            u[:, c, j] = cols[src]
    return u


def monte_carlo_chip_hour(chips: list[ChipSpec], platforms: list[PlatformSpec], budget: BudgetSpec,
                          basis: PriceBasis | Basis = "owner", n_samples: int = 20_000, seed: int = 0,
                          ranges: np.ndarray | None = None, rows=None,
                          rng: np.random.Generator | None = None, keep_inputs: bool = False) -> ChipHourSamples:
    """$/chip-hour draws. Every budget range is a triangular distribution (low, central, high) shared
    by all chips of a sample; each chip's own inputs (price or margin, rent) are drawn apart, and its
    platform's inputs are shared with every other chip on that platform. `rows`: CostRows to use in
    place of the chips' own (e.g. with another basis per chip). `keep_inputs`: also return the
    drawn value of every uncertain input, named as the tornado names them."""
    if n_samples < 100:
        raise InfersimError(f"use at least 100 Monte Carlo samples (got {n_samples})")
    if rows is None:
        rows = [chip_cost_row(c, p, basis) for c, p in zip(chips, platforms)]
    rng = np.random.default_rng(seed) if rng is None else rng
    u_budget = rng.random((n_samples, L.B_FIELDS))
    u_chips = shared_uniforms(rows, n_samples, rng)
    out = np.zeros((n_samples, len(rows)))
    out_power = np.zeros((n_samples, len(rows), 2))
    br = budget_ranges(budget) if ranges is None else ranges
    monte_carlo_chip_hour_nb(np.stack([r.row for r in rows]), np.stack([r.ranges for r in rows]), br, u_budget,
                             u_chips, out, out_power)
    inputs = None
    if keep_inputs:
        inputs = {}
        for k in range(L.B_FIELDS):
            if br[k, 0] < br[k, 2]:
                inputs[budget_field_name(k)] = triangular_ppf(u_budget[:, k], *br[k])
        for c, cr in enumerate(rows):
            for j, src in enumerate(cr.sources):
                if cr.ranges[j, 0] < cr.ranges[j, 2] and src not in inputs:
                    inputs[src] = triangular_ppf(u_chips[:, c, j], *cr.ranges[j])
    return ChipHourSamples(out, out_power[:, :, 0], out_power[:, :, 1], inputs)


def triangular_ppf(u: np.ndarray, low: float, mode: float, high: float) -> np.ndarray:
    """Inverse CDF of the triangular distribution at each u (NumPy; the kernel's twin in closed form)."""
    u = np.asarray(u, dtype=float)
    if high <= low:
        return np.full(u.shape, mode)
    f = (mode - low) / (high - low)
    return np.where(u < f, low + np.sqrt(u * (high - low) * (mode - low)),
                    high - np.sqrt((1.0 - u) * (high - low) * (high - mode)))


def percentiles(samples: np.ndarray, q=(10, 50, 90)) -> np.ndarray:
    return np.percentile(samples, q, axis=0)


def tornado(chips: list[ChipSpec], platforms: list[PlatformSpec], budget: BudgetSpec, metric,
            basis: PriceBasis | Basis = "owner", rows=None) -> pd.DataFrame:
    """Swing of `metric` (a function of the list of $/chip-hour, one per chip) when each input
    moves to its low and its high with everything else central. Inputs shared by several chips
    (one platform) move together. Sorted by swing."""
    if rows is None:
        rows = [chip_cost_row(c, p, basis) for c, p in zip(chips, platforms)]
    base_rows = [r.row.copy() for r in rows]
    central_budget = budget_row(budget)
    br = budget_ranges(budget)
    comp = np.zeros(L.CC_FIELDS)

    def evaluate(budget_vec, chip_rows):
        return metric([chip_hour_cost_nb(r, budget_vec, comp) for r in chip_rows])

    base = evaluate(central_budget, base_rows)
    records = []
    for k in range(L.B_FIELDS):
        lo_v, hi_v = br[k, 0], br[k, 2]
        if lo_v == hi_v:
            continue
        vals = []
        for v in (lo_v, hi_v):
            b = central_budget.copy()
            b[k] = v
            vals.append(evaluate(b, base_rows))
        records.append((budget_field_name(k), lo_v, hi_v, *vals))
    seen: dict[str, list[tuple[int, int]]] = {}
    for c, cr in enumerate(rows):
        for j, src in enumerate(cr.sources):
            if cr.ranges[j, 0] < cr.ranges[j, 2]:
                seen.setdefault(src, []).append((c, j))
    for src, where in seen.items():
        c0, j0 = where[0]
        lo_v, hi_v = rows[c0].ranges[j0, 0], rows[c0].ranges[j0, 2]
        vals = []
        for end in (0, 2):
            changed = [r.copy() for r in base_rows]
            for c, j in where:
                changed[c][j] = rows[c].ranges[j, end]
            vals.append(evaluate(central_budget, changed))
        records.append((src, lo_v, hi_v, *vals))
    df = pd.DataFrame(records, columns=["input", "low_value", "high_value", "metric_at_low", "metric_at_high"])
    df["swing"] = (df["metric_at_high"] - df["metric_at_low"]).abs()
    df["central_metric"] = base
    return df.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
