"""Turn a budget, a chip, its platform and a price basis (specs.price_basis) into the rows the cost
kernels read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InfersimError
from ..kernels import layout as L
from ..specs.budget import BudgetSpec
from ..specs.chip import ChipSpec, Rental
from ..specs.common import Range
from ..specs.platform import PlatformSpec
from ..specs.price_basis import MARKET_PROVIDER, RENTAL_TERMS, Basis, PriceBasis, parse_price_basis  # noqa: F401

HBM_GENERATIONS = ("hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4")


# ---- the budget row --------------------------------------------------------------------------

def _fixed(v: float) -> Range:
    return Range(low=v, central=v, high=v)


def _fabric(b: BudgetSpec):
    return b.network.fabrics[b.network.fabric]


# budget field -> (name, getter of its Range); the order is the B_* layout
BUDGET_FIELDS: dict[int, tuple[str, object]] = {
    L.B_HBM2: ("hbm.hbm2_usd_per_gb", lambda b: b.hbm.hbm2_usd_per_gb),
    L.B_HBM2E: ("hbm.hbm2e_usd_per_gb", lambda b: b.hbm.hbm2e_usd_per_gb),
    L.B_HBM3: ("hbm.hbm3_usd_per_gb", lambda b: b.hbm.hbm3_usd_per_gb),
    L.B_HBM3E: ("hbm.hbm3e_usd_per_gb", lambda b: b.hbm.hbm3e_usd_per_gb),
    L.B_HBM4: ("hbm.hbm4_usd_per_gb", lambda b: b.hbm.hbm4_usd_per_gb),
    L.B_AVG_POWER: ("power_use.average_power_fraction", lambda b: b.power_use.average_power_fraction),
    L.B_IDLE_POWER: ("power_use.idle_power_fraction", lambda b: b.power_use.idle_power_fraction),
    L.B_CLUSTER_CHIPS: ("network.cluster_chips", lambda b: b.network.cluster_chips),
    L.B_SWITCH_GBPS: ("network.fabric.switch_capacity_gbps", lambda b: _fixed(_fabric(b).switch_capacity_gbps)),
    L.B_SWITCH_USD: ("network.fabric.switch_usd", lambda b: _fabric(b).switch_usd),
    L.B_SWITCH_W: ("network.fabric.switch_power_w", lambda b: _fabric(b).switch_power_w),
    L.B_MODULE_GBPS: ("network.fabric.module_gbps", lambda b: _fixed(_fabric(b).module_gbps)),
    L.B_MODULE_USD: ("network.fabric.module_usd", lambda b: _fabric(b).module_usd),
    L.B_MODULE_W: ("network.fabric.module_power_w", lambda b: _fabric(b).module_power_w),
    L.B_NIC_LEAF_OPTICAL: ("network.nic_leaf_optical_fraction", lambda b: b.network.nic_leaf_optical_fraction),
    L.B_USD_PER_KWH: ("facility.electricity_usd_per_kwh", lambda b: b.facility.electricity_usd_per_kwh),
    L.B_PUE: ("facility.pue", lambda b: b.facility.pue),
    L.B_FACILITY_USD_PER_W: ("facility.facility_capex_usd_per_w", lambda b: b.facility.facility_capex_usd_per_w),
    L.B_FACILITY_LIFE_Y: ("facility.facility_life_years", lambda b: b.facility.facility_life_years),
    L.B_CHIP_LIFE_Y: ("finance.chip_useful_life_years", lambda b: b.finance.chip_useful_life_years),
    L.B_RATE: ("finance.cost_of_capital_per_year", lambda b: b.finance.cost_of_capital_per_year),
    L.B_UPKEEP: ("finance.upkeep_fraction_of_capital_charge", lambda b: b.finance.upkeep_fraction_of_capital_charge),
}
assert sorted(BUDGET_FIELDS) == list(range(L.B_FIELDS))


def budget_field_name(k: int) -> str:
    return BUDGET_FIELDS[k][0]


def budget_ranges(budget: BudgetSpec) -> np.ndarray:
    """(B_FIELDS, 3) array of low, central, high."""
    out = np.zeros((L.B_FIELDS, 3))
    for k, (_, get) in BUDGET_FIELDS.items():
        r = get(budget)
        out[k] = (r.low, r.central, r.high)
    return out


def budget_row(budget: BudgetSpec, which: int = 1) -> np.ndarray:
    """One budget row: which = 0 low, 1 central, 2 high."""
    return budget_ranges(budget)[:, which].copy()


def with_fabric(budget: BudgetSpec, fabric: str) -> BudgetSpec:
    """The same budget on another of its scale-out fabrics."""
    if fabric not in budget.network.fabrics:
        raise InfersimError(f"budget '{budget.id}' has no fabric '{fabric}': choose one of "
                            f"{', '.join(sorted(budget.network.fabrics))}")
    return budget.model_copy(update={"network": budget.network.model_copy(update={"fabric": fabric})})


# ---- one chip's row --------------------------------------------------------------------------

PLATFORM_FIELDS = {
    L.P_SERVER_USD: ("server_usd_per_chip", "server_usd_per_chip"),
    L.P_SCALEUP_USD: ("scaleup_usd_per_chip", "scaleup_usd_per_chip"),
    L.P_SCALEUP_MODULES: ("scaleup_optical_modules_per_chip", "scaleup_optical_modules_per_chip"),
    L.P_SCALEUP_MODULE_USD: ("scaleup_module_usd", "scaleup_module_usd"),
    L.P_SCALEUP_MODULE_W: ("scaleup_module_power_w", "scaleup_module_power_w"),
    L.P_POWER_OVERHEAD: ("power_overhead_fraction", "power_overhead_fraction"),
}


@dataclass(frozen=True)
class CostRow:
    """A chip's P_* row, the (low, central, high) range of each field (equal bounds: fixed), and
    for each field the name of where its uncertainty comes from (fields of one source, e.g. one
    platform shared by two chips, are drawn together in a Monte Carlo)."""

    row: np.ndarray
    ranges: np.ndarray
    sources: tuple[str, ...]
    basis: Basis


def chip_cost_row(chip: ChipSpec, platform: PlatformSpec, basis: PriceBasis | Basis = "owner") -> CostRow:
    b = parse_price_basis(basis)
    price = chip.price
    owner_price = b.chip_price if b.view == "owner" else "auto"
    use_bom = (owner_price == "bom") or (owner_price == "auto" and price.bom is not None)
    if owner_price == "bom" and price.bom is None:
        raise InfersimError(f"chip '{chip.id}' has no [price.bom] table: use --price-basis owner:market or owner")
    if owner_price == "market" and price.market_usd is None:
        raise InfersimError(f"chip '{chip.id}' has no price.market_usd: use --price-basis owner:bom or owner")
    row = np.zeros(L.P_FIELDS)
    ranges = np.zeros((L.P_FIELDS, 3))
    sources = [f"{chip.id}.fixed"] * L.P_FIELDS
    row[L.P_TDP_W] = chip.power.tdp_w
    row[L.P_NIC_GBPS] = chip.interconnect.scaleout_bw_bytes_per_s_per_direction * 8 / 1e9
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
        ranges[L.P_MARGIN] = (m.low, m.central, m.high)
        sources[L.P_MARGIN] = f"{chip.id}.gross_margin"
    else:
        m = price.market_usd
        row[L.P_MARKET_USD] = m.central
        ranges[L.P_MARKET_USD] = (m.low, m.central, m.high)
        sources[L.P_MARKET_USD] = f"{chip.id}.market_price_usd"
    for k, (attr, name) in PLATFORM_FIELDS.items():
        r = getattr(platform.cost, attr)
        row[k] = r.central
        ranges[k] = (r.low, r.central, r.high)
        sources[k] = f"{platform.id}.{name}"
    if b.view == "rental":
        rent = rental_range(chip, b)
        row[L.P_RENT_USD_H] = rent.central
        ranges[L.P_RENT_USD_H] = (rent.low, rent.central, rent.high)
        sources[L.P_RENT_USD_H] = f"{chip.id}.rent_usd_per_hour"
    for k in range(L.P_FIELDS):
        if ranges[k, 2] == 0.0 and ranges[k, 0] == 0.0:
            ranges[k] = (row[k], row[k], row[k])
    return CostRow(row, ranges, tuple(sources), b)


# ---- rental prices ---------------------------------------------------------------------------

def rentals_for(chip: ChipSpec, provider: str | None = None, term: str | None = None,
                as_of: str | None = None) -> list[Rental]:
    """The chip's dated rental prices, filtered; dates compared as text (YYYY-MM sorts before YYYY-MM-DD)."""
    out = []
    for r in chip.price.rental:
        if provider not in (None, MARKET_PROVIDER) and r.provider != provider:
            continue
        if term is not None and r.term != term:
            continue
        if as_of is not None and r.date[:len(as_of)] > as_of:
            continue
        out.append(r)
    return out


def newest(rentals: list[Rental]) -> Rental:
    return max(rentals, key=lambda r: r.date)


def rental_range(chip: ChipSpec, basis: Basis) -> Range:
    """$/chip-hour for a rental basis: one provider's newest price, or the market's median and range."""
    found = rentals_for(chip, basis.provider, basis.term, basis.as_of)
    if not found:
        have = sorted({f"{r.provider}:{r.term}@{r.date}" for r in chip.price.rental})
        listed = f"it lists {', '.join(have)}" if have else "its spec lists no rental price"
        raise InfersimError(f"chip '{chip.id}' has no {basis.term} rental price from "
                            f"{'any provider' if basis.provider == MARKET_PROVIDER else basis.provider}"
                            f"{' on or before ' + basis.as_of if basis.as_of else ''} ({listed}): "
                            f"choose another --price-basis")
    if basis.provider != MARKET_PROVIDER:
        v = newest(found).usd_per_chip_hour
        return Range(low=v, central=v, high=v)
    by_provider: dict[str, list[Rental]] = {}
    for r in found:
        by_provider.setdefault(r.provider, []).append(r)
    prices = np.array([newest(rs).usd_per_chip_hour for rs in by_provider.values()])
    return Range(low=float(prices.min()), central=float(np.median(prices)), high=float(prices.max()))
