"""Platforms (hardware_specs/platforms/<id>.toml): the system a chip is deployed in, priced per chip.

A platform is the server or tray around the chip (host CPUs, DRAM, NICs, board, chassis, power,
cooling) and its scale-up fabric (NVSwitch baseboard or switch trays and their copper spine, TPU
ICI cables and optical circuit switches, NeuronLink backplanes, an optical super-node's switches
and modules). The scale-out network is not here: it is sized by topology from the chip's NIC and
the budget's fabric. Every number is a low / central / high range per chip with its source.
"""

from __future__ import annotations

from pydantic import Field

from .common import MAX_COUNT, NonNegativeRange, Provenance, Strict


class PlatformCost(Strict):
    """Per chip of the platform, as bought (a market price, whatever the chip's price basis)."""

    server_usd_per_chip: NonNegativeRange               # server or tray around the chip, not the chip itself
    scaleup_usd_per_chip: NonNegativeRange              # scale-up switches, baseboard, cables, OCS; optics apart
    scaleup_optical_modules_per_chip: NonNegativeRange  # optical modules of the scale-up fabric
    scaleup_module_usd: NonNegativeRange
    scaleup_module_power_w: NonNegativeRange
    power_overhead_fraction: NonNegativeRange           # system IT power above chip TDP (host, fans, switches); optics apart


class PlatformSpec(Strict):
    schema_version: int
    id: str
    name: str
    chips_per_system: int = Field(ge=1, le=MAX_COUNT)      # chips of one scale-up system (server, rack or pod)
    scaleup_fabric: str                      # what joins them, in words
    provenance: Provenance
    cost: PlatformCost
    description: str = Field(default="")
