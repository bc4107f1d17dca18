"""Turn a budget spec and a chip's price and power into the rows the cost kernels read."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import InfersimError
from ..kernels import layout as L
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec

PriceBasis = Literal["auto", "market", "bom"]
HBM_GENERATIONS = ("hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4")
REFERENCE_NIC_BYTES_PER_S = 100e9  # 800 Gb/s: the NIC the budget's optics and ports per chip are for

# budget field -> (table, attribute); the order is the B_* layout
BUDGET_FIELDS: dict[int, tuple[str, str]] = {
    L.B_HBM2: ("hbm", "hbm2_usd_per_gb"), L.B_HBM2E: ("hbm", "hbm2e_usd_per_gb"),
    L.B_HBM3: ("hbm", "hbm3_usd_per_gb"), L.B_HBM3E: ("hbm", "hbm3e_usd_per_gb"),
    L.B_HBM4: ("hbm", "hbm4_usd_per_gb"),
    L.B_SERVER_ACC_USD: ("server", "accelerator_server_usd_per_chip"),
    L.B_SERVER_CPU_USD: ("server", "cpu_server_usd_per_socket"),
    L.B_POWER_OVERHEAD: ("server", "power_overhead_fraction"),
    L.B_AVG_POWER: ("server", "average_power_fraction"),
    L.B_OPTICS_N: ("network", "optical_modules_per_chip"), L.B_OPTICS_USD: ("network", "optical_module_usd"),
    L.B_OPTICS_W: ("network", "optical_module_power_w"), L.B_PORTS_N: ("network", "switch_ports_per_chip"),
    L.B_PORT_USD: ("network", "switch_port_usd"), L.B_PORT_W: ("network", "switch_port_power_w"),
    L.B_USD_PER_KWH: ("facility", "electricity_usd_per_kwh"), L.B_PUE: ("facility", "pue"),
    L.B_FACILITY_USD_PER_W: ("facility", "facility_capex_usd_per_w"),
    L.B_FACILITY_LIFE_Y: ("facility", "facility_life_years"),
    L.B_CHIP_LIFE_Y: ("finance", "chip_useful_life_years"), L.B_RATE: ("finance", "cost_of_capital_per_year"),
    L.B_UPKEEP: ("finance", "upkeep_fraction_of_capital_charge"),
}
assert sorted(BUDGET_FIELDS) == list(range(L.B_FIELDS))


def budget_field_name(k: int) -> str:
    table, attr = BUDGET_FIELDS[k]
    return f"{table}.{attr}"


def budget_ranges(budget: BudgetSpec) -> np.ndarray:
    """(B_FIELDS, 3) array of low, central, high."""
    out = np.zeros((L.B_FIELDS, 3))
    for k, (table, attr) in BUDGET_FIELDS.items():
        r = getattr(getattr(budget, table), attr)
        out[k] = (r.low, r.central, r.high)
    return out


def budget_row(budget: BudgetSpec, which: int = 1) -> np.ndarray:
    """One budget row: which = 0 low, 1 central, 2 high."""
    return budget_ranges(budget)[:, which].copy()


def chip_cost_row(chip: ChipSpec, basis: PriceBasis = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(P_* row, price range) for a chip. The range is of the uncertain price input: the market
    price, or the gross margin when the chip is priced from its bill of materials."""
    price = chip.price
    use_bom = (basis == "bom") or (basis == "auto" and price.bom is not None)
    if basis == "bom" and price.bom is None:
        raise InfersimError(f"chip '{chip.id}' has no [price.bom] table: use --price-basis market or auto")
    if basis == "market" and price.market_usd is None:
        raise InfersimError(f"chip '{chip.id}' has no price.market_usd: use --price-basis bom or auto")
    row = np.zeros(L.P_FIELDS)
    row[L.P_TDP_W] = chip.power.tdp_w
    row[L.P_NET_SCALE] = chip.interconnect.scaleout_bw_bytes_per_s_per_direction / REFERENCE_NIC_BYTES_PER_S
    row[L.P_IS_CPU] = 1.0 if chip.kind == "cpu" else 0.0
    row[L.P_INCLUDES_SERVER] = 1.0 if price.includes_server else 0.0
    if use_bom:
        bom = price.bom
        offchip = chip.memory.offchip
        is_hbm = offchip is not None and offchip.technology.upper().startswith("HBM")
        if bom.hbm_generation is not None and bom.hbm_generation not in HBM_GENERATIONS:
            raise InfersimError(f"chip '{chip.id}': price.bom.hbm_generation '{bom.hbm_generation}' is not one of "
                                f"{', '.join(HBM_GENERATIONS)}")
        row[L.P_BOM] = 1.0
        row[L.P_PARTS_USD] = bom.logic_die_usd + bom.packaging_usd + bom.board_usd
        row[L.P_HBM_GB] = offchip.capacity_bytes / 1e9 if (is_hbm and bom.hbm_generation) else 0.0
        row[L.P_HBM_GEN] = HBM_GENERATIONS.index(bom.hbm_generation) if bom.hbm_generation else 0
        m = bom.gross_margin_fraction
        row[L.P_MARGIN] = m.central
        return row, np.array([m.low, m.central, m.high])
    m = price.market_usd
    row[L.P_MARKET_USD] = m.central
    return row, np.array([m.low, m.central, m.high])
