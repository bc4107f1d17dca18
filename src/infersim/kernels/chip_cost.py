"""Total cost of ownership of one deployed chip, per hour, its scale-out fabric, and its Monte Carlo.

Capital (chip, its platform's server share and scale-up fabric, the scale-out switches and optics)
is recovered over the chip's useful life at the cost of capital; the facility (capex per W of peak
IT power) over its own life; power is the average IT draw x PUE x $/kWh; upkeep a fraction of the
capital charge. A renter pays one price per chip-hour that replaces all of these.

The scale-out fabric is a non-blocking fat tree (folded Clos) with one NIC port per chip: each
switch below the top tier splits its ports half down, half up, so t tiers reach 2 (k/2)^t ports
of a radix-k switch and a chip's traffic crosses 2t - 1 switch ports and t links. Rail
optimisation (NIC i of every server on leaf i) changes which leaf a port lands on, not the counts.
"""

import numpy as np
from numba import njit, prange

from .config import JIT, JIT_LEAF, JIT_PARALLEL
from .layout import (
    B_AVG_POWER,
    B_CHIP_LIFE_Y,
    B_CLUSTER_CHIPS,
    B_FACILITY_LIFE_Y,
    B_FACILITY_USD_PER_W,
    B_HBM2,
    B_IDLE_POWER,
    B_MODULE_GBPS,
    B_MODULE_USD,
    B_MODULE_W,
    B_NIC_LEAF_OPTICAL,
    B_PUE,
    B_RATE,
    B_SWITCH_GBPS,
    B_SWITCH_USD,
    B_SWITCH_W,
    B_UPKEEP,
    B_USD_PER_KWH,
    CC_CHIP,
    CC_CHIP_PRICE_USD,
    CC_FACILITY,
    CC_FIELDS,
    CC_HBM,
    CC_IT_POWER_AVG_W,
    CC_MODULES,
    CC_NETWORK,
    CC_OPTICS,
    CC_POWER,
    CC_POWER_IDLE,
    CC_RENT,
    CC_SCALEUP,
    CC_SERVER,
    CC_SITE_POWER_AVG_W,
    CC_SITE_POWER_PEAK_W,
    CC_TOTAL,
    CC_UPKEEP,
    HOURS_PER_YEAR,
    P_BOM,
    P_HBM_GB,
    P_HBM_GEN,
    P_MARGIN,
    P_MARKET_USD,
    P_NIC_GBPS,
    P_PARTS_USD,
    P_POWER_OVERHEAD,
    P_RENT_USD_H,
    P_SCALEUP_MODULE_USD,
    P_SCALEUP_MODULE_W,
    P_SCALEUP_MODULES,
    P_SCALEUP_USD,
    P_SERVER_USD,
    P_TDP_W,
)

MAX_TIERS = 8
MIN_RADIX = 4.0   # a NIC faster than a quarter of the switch is treated as using a quarter of it


@njit(**JIT)
def capital_recovery_factor_nb(rate, years):
    """Annual payment per $ of capital repaid over `years` at `rate`: r(1+r)^n / ((1+r)^n - 1)."""
    if rate <= 0.0:
        return 1.0 / years
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


@njit(**JIT)
def fat_tree_tiers_nb(endpoints, radix):
    """Fewest tiers of a non-blocking fat tree of radix-`radix` switches with `endpoints` ports:
    1 when one switch holds them all, else the smallest t with 2 (radix/2)^t >= endpoints."""
    if endpoints <= radix:
        return 1
    t = 2
    while t < MAX_TIERS and 2.0 * (radix / 2.0) ** t < endpoints:
        t += 1
    return t


@njit(**JIT)
def fat_tree_nb(nic_gbps, cluster_chips, switch_gbps, switch_usd, switch_w, module_gbps, module_usd, module_w,
                nic_leaf_optical):
    """Per chip of a fat tree of `cluster_chips` chips, one NIC port of `nic_gbps` each:
    (tiers, switches, switch ports, optical modules, optics $, optics W, switches $, switches W).

    The switch's radix at the NIC's speed is switch_gbps / nic_gbps. A chip uses 2t - 1 switch
    ports and t links (2t link ends, one on its NIC). A switch-side module of module_gbps carries
    module_gbps / nic_gbps ports (twin-port 800G modules serve two 400G ports); the NIC-side
    module is one per port, priced by its share of a module's bandwidth. A copper NIC-to-leaf link
    (share 1 - nic_leaf_optical) needs no module at either end."""
    if nic_gbps <= 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    radix = max(switch_gbps / nic_gbps, MIN_RADIX)
    tiers = fat_tree_tiers_nb(cluster_chips, radix)
    ports = 2.0 * tiers - 1.0
    switches = ports / radix
    r = nic_gbps / module_gbps                       # modules per port of NIC speed
    switch_ends = ports - (1.0 - nic_leaf_optical)   # switch ports whose link is optical
    modules = nic_leaf_optical * max(1.0, r) + switch_ends * r
    module_equiv = nic_leaf_optical * r + switch_ends * r
    return (float(tiers), switches, ports, modules, module_equiv * module_usd, module_equiv * module_w,
            switches * switch_usd, switches * switch_w)


@njit(**JIT_LEAF)
def chip_price_nb(chip, budget):
    """(price $, of which HBM $) of one chip: market price, or BOM / (1 - margin)."""
    if chip[P_BOM] == 1.0:
        hbm = chip[P_HBM_GB] * budget[B_HBM2 + int(chip[P_HBM_GEN])]
        markup = 1.0 / (1.0 - chip[P_MARGIN])
        return (chip[P_PARTS_USD] + hbm) * markup, hbm * markup
    return chip[P_MARKET_USD], 0.0


@njit(**JIT_LEAF)
def chip_hour_cost_nb(chip, budget, out):
    """Fill out[CC_*] with the $/hour components of one deployed chip; returns the total."""
    price, hbm = chip_price_nb(chip, budget)
    _, _, _, so_modules, so_optics_usd, so_optics_w, sw_usd, sw_w = fat_tree_nb(
        chip[P_NIC_GBPS], budget[B_CLUSTER_CHIPS], budget[B_SWITCH_GBPS], budget[B_SWITCH_USD], budget[B_SWITCH_W],
        budget[B_MODULE_GBPS], budget[B_MODULE_USD], budget[B_MODULE_W], budget[B_NIC_LEAF_OPTICAL])
    su_optics_usd = chip[P_SCALEUP_MODULES] * chip[P_SCALEUP_MODULE_USD]
    su_optics_w = chip[P_SCALEUP_MODULES] * chip[P_SCALEUP_MODULE_W]
    fabric_w = so_optics_w + sw_w + su_optics_w        # drawn whether the chip is busy or not
    system_w = chip[P_TDP_W] * (1.0 + chip[P_POWER_OVERHEAD])
    peak_it_w = system_w + fabric_w
    avg_it_w = system_w * budget[B_AVG_POWER] + fabric_w
    idle_it_w = system_w * budget[B_IDLE_POWER] + fabric_w
    crf_it = capital_recovery_factor_nb(budget[B_RATE], budget[B_CHIP_LIFE_Y])
    crf_fac = capital_recovery_factor_nb(budget[B_RATE], budget[B_FACILITY_LIFE_Y])
    h = HOURS_PER_YEAR
    kw_usd = budget[B_PUE] / 1000.0 * budget[B_USD_PER_KWH]
    out[CC_CHIP] = price * crf_it / h
    out[CC_HBM] = hbm * crf_it / h
    out[CC_SERVER] = chip[P_SERVER_USD] * crf_it / h
    out[CC_SCALEUP] = (chip[P_SCALEUP_USD] + su_optics_usd) * crf_it / h
    out[CC_NETWORK] = (sw_usd + so_optics_usd) * crf_it / h
    out[CC_FACILITY] = budget[B_FACILITY_USD_PER_W] * peak_it_w * crf_fac / h
    out[CC_POWER] = avg_it_w * kw_usd
    out[CC_POWER_IDLE] = idle_it_w * kw_usd
    out[CC_OPTICS] = (su_optics_usd + so_optics_usd) * crf_it / h
    out[CC_MODULES] = chip[P_SCALEUP_MODULES] + so_modules
    capital = out[CC_CHIP] + out[CC_SERVER] + out[CC_SCALEUP] + out[CC_NETWORK] + out[CC_FACILITY]
    out[CC_UPKEEP] = budget[B_UPKEEP] * capital
    out[CC_RENT] = 0.0
    out[CC_TOTAL] = capital + out[CC_POWER] + out[CC_UPKEEP]
    out[CC_CHIP_PRICE_USD] = price
    out[CC_IT_POWER_AVG_W] = avg_it_w
    out[CC_SITE_POWER_AVG_W] = avg_it_w * budget[B_PUE]
    out[CC_SITE_POWER_PEAK_W] = peak_it_w * budget[B_PUE]
    if chip[P_RENT_USD_H] > 0.0:   # a renter: the rent is the whole hour, idle or busy
        for k in (CC_CHIP, CC_HBM, CC_SERVER, CC_SCALEUP, CC_NETWORK, CC_FACILITY, CC_POWER, CC_UPKEEP,
                  CC_POWER_IDLE, CC_OPTICS):
            out[k] = 0.0
        out[CC_RENT] = chip[P_RENT_USD_H]
        out[CC_TOTAL] = chip[P_RENT_USD_H]
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
def monte_carlo_chip_hour_nb(chips, chip_ranges, budget_ranges, u_budget, u_chips, out, out_power):
    """out[s, c] = $/hour of chip c in sample s; out_power[s, c] = (power $/h at full load, idle).

    budget_ranges[k] = (low, central, high) of budget field k; chip_ranges[c, j] = (low, central,
    high) of chip c's cost input j (equal bounds: a fixed input). u_budget[s, k] and u_chips[s, c, j]
    are uniforms in [0, 1): one budget draw is shared by every chip of a sample (so ratios between
    chips see the same electricity, HBM price ...); the caller shares u_chips between chips whose
    inputs come from one source (one platform)."""
    n_samples = u_budget.shape[0]
    n_fields = budget_ranges.shape[0]
    n_p = chips.shape[1]
    for s in prange(n_samples):
        budget = np.empty(n_fields)
        for k in range(n_fields):
            budget[k] = triangular_ppf_nb(u_budget[s, k], budget_ranges[k, 0], budget_ranges[k, 1],
                                          budget_ranges[k, 2])
        comp = np.empty(CC_FIELDS)
        chip = np.empty(n_p)
        for c in range(chips.shape[0]):
            for j in range(n_p):
                lo, hi = chip_ranges[c, j, 0], chip_ranges[c, j, 2]
                if hi > lo:
                    chip[j] = triangular_ppf_nb(u_chips[s, c, j], lo, chip_ranges[c, j, 1], hi)
                else:
                    chip[j] = chips[c, j]
            out[s, c] = chip_hour_cost_nb(chip, budget, comp)
            out_power[s, c, 0] = comp[CC_POWER]
            out_power[s, c, 1] = comp[CC_POWER_IDLE]
