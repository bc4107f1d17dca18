"""Budgets: what is neither a chip nor its platform (HBM $/GB, how hard chips draw power, the
scale-out network and optics, facility, electricity, capital).

Every parameter is a low / central / high range (units in the name) with its source in a
comment beside it. The cost model (infersim.cost) reads the central values for a point
estimate and samples the ranges for uncertainty bands.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .common import PositiveFloat, Provenance, Range, Strict


class HbmPrices(Strict):
    """$/GB of HBM by generation, paid by the chip maker (flows into BOM-priced chips)."""

    hbm2_usd_per_gb: Range
    hbm2e_usd_per_gb: Range
    hbm3_usd_per_gb: Range
    hbm3e_usd_per_gb: Range
    hbm4_usd_per_gb: Range


class PowerUse(Strict):
    """How hard a provisioned chip draws, as a fraction of its system's peak (chip TDP + platform overhead)."""

    average_power_fraction: Range            # average draw / peak while serving at full load
    idle_power_fraction: Range               # draw of a provisioned chip with no requests / peak


class Fabric(Strict):
    """One generation of scale-out switches and optics: the switch's capacity and price, and its
    optical modules' speed, price and power."""

    switch_capacity_gbps: PositiveFloat      # per direction, e.g. 51,200 = 64 x 800G
    switch_usd: Range
    switch_power_w: Range                    # without its optics
    module_gbps: PositiveFloat               # 800, 1,600
    module_usd: Range
    module_power_w: Range
    description: str = ""


class Network(Strict):
    """The scale-out network: a non-blocking fat tree sized by the cluster (see kernels.chip_cost)."""

    cluster_chips: Range                     # chips on one scale-out fabric
    nic_leaf_optical_fraction: Range         # share of NIC-to-leaf links that are optical (the rest copper)
    fabric: str                              # the key of `fabrics` this budget uses
    fabrics: dict[str, Fabric]

    @model_validator(mode="after")
    def _fabric_known(self) -> "Network":
        if self.fabric not in self.fabrics:
            raise ValueError(f"network.fabric '{self.fabric}' is not one of the [network.fabrics.*] tables "
                             f"({', '.join(sorted(self.fabrics))})")
        if not (0.0 <= self.nic_leaf_optical_fraction.low and self.nic_leaf_optical_fraction.high <= 1.0):
            raise ValueError("network.nic_leaf_optical_fraction must lie within 0..1")
        return self


class Facility(Strict):
    electricity_usd_per_kwh: Range
    pue: Range
    facility_capex_usd_per_w: Range          # per W of IT load
    facility_life_years: Range


class Finance(Strict):
    chip_useful_life_years: Range
    cost_of_capital_per_year: Range
    upkeep_fraction_of_capital_charge: Range


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
