"""Total cost of ownership of one deployed chip, per hour, and its Monte Carlo.

Capital (chip, server share, network and optics) is recovered over the chip's useful life at
the cost of capital; the facility (capex per W of IT power) over its own life; power is the
average IT draw x PUE x $/kWh; upkeep a fraction of the capital charge.
"""

import numpy as np
from numba import njit, prange

from .config import JIT, JIT_PARALLEL
from .layout import (
    B_AVG_POWER, B_CHIP_LIFE_Y, B_FACILITY_LIFE_Y, B_FACILITY_USD_PER_W, B_HBM2, B_OPTICS_N, B_OPTICS_USD, B_OPTICS_W,
    B_PORT_USD, B_PORT_W, B_PORTS_N, B_POWER_OVERHEAD, B_PUE, B_RATE, B_SERVER_ACC_USD, B_SERVER_CPU_USD, B_UPKEEP,
    B_USD_PER_KWH, CC_CHIP, CC_CHIP_PRICE_USD, CC_FACILITY, CC_FIELDS, CC_HBM, CC_IT_POWER_AVG_W, CC_NETWORK, CC_POWER,
    CC_SERVER, CC_SITE_POWER_AVG_W, CC_SITE_POWER_PEAK_W, CC_TOTAL, CC_UPKEEP, HOURS_PER_YEAR, P_BOM, P_HBM_GB,
    P_HBM_GEN, P_INCLUDES_SERVER, P_IS_CPU, P_MARGIN, P_MARKET_USD, P_NET_SCALE, P_PARTS_USD, P_TDP_W,
)


@njit(**JIT)
def capital_recovery_factor_nb(rate, years):
    """Annual payment per $ of capital repaid over `years` at `rate`: r(1+r)^n / ((1+r)^n - 1)."""
    if rate <= 0.0:
        return 1.0 / years
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


@njit(**JIT)
def chip_price_nb(chip, budget):
    """(price $, of which HBM $) of one chip: market price, or BOM / (1 - margin)."""
    if chip[P_BOM] == 1.0:
        hbm = chip[P_HBM_GB] * budget[B_HBM2 + int(chip[P_HBM_GEN])]
        markup = 1.0 / (1.0 - chip[P_MARGIN])
        return (chip[P_PARTS_USD] + hbm) * markup, hbm * markup
    return chip[P_MARKET_USD], 0.0


@njit(**JIT)
def chip_hour_cost_nb(chip, budget, out):
    """Fill out[CC_*] with the $/hour components of one deployed chip; returns the total."""
    price, hbm = chip_price_nb(chip, budget)
    if chip[P_INCLUDES_SERVER] == 1.0:
        server_usd = 0.0
        overhead = 0.0
    else:
        server_usd = budget[B_SERVER_CPU_USD] if chip[P_IS_CPU] == 1.0 else budget[B_SERVER_ACC_USD]
        overhead = budget[B_POWER_OVERHEAD]
    scale = chip[P_NET_SCALE]
    optics = scale * budget[B_OPTICS_N]
    ports = scale * budget[B_PORTS_N]
    network_usd = optics * budget[B_OPTICS_USD] + ports * budget[B_PORT_USD]
    network_w = optics * budget[B_OPTICS_W] + ports * budget[B_PORT_W]
    peak_it_w = chip[P_TDP_W] * (1.0 + overhead) + network_w
    avg_it_w = chip[P_TDP_W] * (1.0 + overhead) * budget[B_AVG_POWER] + network_w
    crf_it = capital_recovery_factor_nb(budget[B_RATE], budget[B_CHIP_LIFE_Y])
    crf_fac = capital_recovery_factor_nb(budget[B_RATE], budget[B_FACILITY_LIFE_Y])
    h = HOURS_PER_YEAR
    out[CC_CHIP] = price * crf_it / h
    out[CC_HBM] = hbm * crf_it / h
    out[CC_SERVER] = server_usd * crf_it / h
    out[CC_NETWORK] = network_usd * crf_it / h
    out[CC_FACILITY] = budget[B_FACILITY_USD_PER_W] * peak_it_w * crf_fac / h
    out[CC_POWER] = avg_it_w * budget[B_PUE] / 1000.0 * budget[B_USD_PER_KWH]
    capital = out[CC_CHIP] + out[CC_SERVER] + out[CC_NETWORK] + out[CC_FACILITY]
    out[CC_UPKEEP] = budget[B_UPKEEP] * capital
    out[CC_TOTAL] = capital + out[CC_POWER] + out[CC_UPKEEP]
    out[CC_CHIP_PRICE_USD] = price
    out[CC_IT_POWER_AVG_W] = avg_it_w
    out[CC_SITE_POWER_AVG_W] = avg_it_w * budget[B_PUE]
    out[CC_SITE_POWER_PEAK_W] = peak_it_w * budget[B_PUE]
    return out[CC_TOTAL]


@njit(**JIT)
def triangular_ppf_nb(u, low, mode, high):
    """Inverse CDF of the triangular distribution (low, mode, high) at u in [0, 1]."""
    if high <= low:
        return mode
    f = (mode - low) / (high - low)
    if u < f:
        return low + np.sqrt(u * (high - low) * (mode - low))
    return high - np.sqrt((1.0 - u) * (high - low) * (high - mode))


@njit(**JIT_PARALLEL)
def monte_carlo_chip_hour_nb(chips, chip_price_ranges, budget_ranges, u_budget, u_chips, out):
    """out[s, c] = $/hour of chip c in sample s.

    budget_ranges[k] = (low, central, high) of budget field k; chip_price_ranges[c] = (low, central,
    high) of chip c's uncertain price input (market price, or gross margin for BOM pricing).
    u_budget[s, k] and u_chips[s, c] are uniforms in [0, 1): one budget draw is shared by every
    chip of a sample (so ratios between chips see the same electricity, HBM price ...)."""
    n_samples = u_budget.shape[0]
    n_fields = budget_ranges.shape[0]
    for s in prange(n_samples):
        budget = np.empty(n_fields)
        for k in range(n_fields):
            budget[k] = triangular_ppf_nb(u_budget[s, k], budget_ranges[k, 0], budget_ranges[k, 1],
                                          budget_ranges[k, 2])
        comp = np.empty(CC_FIELDS)
        chip = np.empty(chips.shape[1])
        for c in range(chips.shape[0]):
            for j in range(chips.shape[1]):
                chip[j] = chips[c, j]
            x = triangular_ppf_nb(u_chips[s, c], chip_price_ranges[c, 0], chip_price_ranges[c, 1],
                                  chip_price_ranges[c, 2])
            if chip[P_BOM] == 1.0:
                chip[P_MARGIN] = x
            else:
                chip[P_MARKET_USD] = x
            out[s, c] = chip_hour_cost_nb(chip, budget, comp)
