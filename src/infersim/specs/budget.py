"""Budgets: what is neither a chip nor its platform (HBM $/GB, how hard chips draw power, the
scale-out network and optics, facility, electricity, capital).

Every parameter is a low / central / high range (units in the name) with its source in a
comment beside it. The cost model (infersim.cost) reads the central values for a point
estimate and samples the ranges for uncertainty bands.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from typing import Annotated

from .common import (
    FractionRange, LifeRange, NonNegativeRange, PositiveRange, Provenance, PueRange, Range, RateRange, Strict,
)

Gbps = Annotated[float, Field(gt=0, le=1e9)]


class HbmPrices(Strict):
    """$/GB of HBM by generation, paid by the chip maker (flows into BOM-priced chips)."""

    hbm2_usd_per_gb: PositiveRange
    hbm2e_usd_per_gb: PositiveRange
    hbm3_usd_per_gb: PositiveRange
    hbm3e_usd_per_gb: PositiveRange
    hbm4_usd_per_gb: PositiveRange


class PowerUse(Strict):
    """How hard a provisioned chip draws, as a fraction of its system's peak (chip TDP + platform overhead)."""

    average_power_fraction: FractionRange            # average draw / peak while serving at full load
    idle_power_fraction: FractionRange               # draw of a provisioned chip with no requests / peak


class Fabric(Strict):
    """One generation of scale-out switches and optics: the switch's capacity and price, and its
    optical modules' speed, price and power."""

    switch_capacity_gbps: Gbps      # per direction, e.g. 51,200 = 64 x 800G
    switch_usd: NonNegativeRange
    switch_power_w: NonNegativeRange                    # without its optics
    module_gbps: Gbps               # 800, 1,600
    module_usd: NonNegativeRange
    module_power_w: NonNegativeRange
    description: str = ""


class Network(Strict):
    """The scale-out network: a non-blocking fat tree sized by the cluster (see kernels.chip_cost)."""

    cluster_chips: PositiveRange                     # chips on one scale-out fabric
    nic_leaf_optical_fraction: Range         # share of NIC-to-leaf links that are optical (the rest copper)
    fabric: str                              # the key of `fabrics` this budget uses
    fabrics: dict[str, Fabric] = Field(min_length=1)

    @model_validator(mode="after")
    def _fabric_known(self) -> "Network":
        if self.fabric not in self.fabrics:
            raise ValueError(f"network.fabric '{self.fabric}' is not one of the [network.fabrics.*] tables "
                             f"({', '.join(sorted(self.fabrics))})")
        if not (0.0 <= self.nic_leaf_optical_fraction.low and self.nic_leaf_optical_fraction.high <= 1.0):
            raise ValueError("network.nic_leaf_optical_fraction must lie within 0..1")
        return self


class Facility(Strict):
    electricity_usd_per_kwh: NonNegativeRange   # a negative price would pay the site to run
    pue: PueRange                               # site power / IT power, >= 1
    facility_capex_usd_per_w: NonNegativeRange  # per W of IT load
    facility_life_years: LifeRange


class Finance(Strict):
    chip_useful_life_years: LifeRange           # capital is recovered over it: > 0
    cost_of_capital_per_year: RateRange         # 0 to 1 (100 % a year)
    upkeep_fraction_of_capital_charge: NonNegativeRange


class BudgetSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    hbm: HbmPrices
    power_use: PowerUse
    network: Network
    facility: Facility
    finance: Finance
    description: str = Field(default="")
