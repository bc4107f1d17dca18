"""Schema of a chip spec file (hardware_specs/<kind>/<id>.toml): what the silicon is.

Units are in every field name. FLOP/s are dense (no 2:4 sparsity), per data type; a dtype
the chip has no math for is absent. A CPU's unit is one socket.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .common import MAX_COUNT, Fraction, MarginRange, PositiveFloat, PositiveRange, Provenance, Strict

# Upper bounds far beyond any chip (1000x the largest of each): a typo is caught, no sum overflows.
FlopsPerS = Annotated[float, Field(gt=0, le=1e21)]          # a wafer-scale chip is ~1e17
Bytes = Annotated[float, Field(gt=0, le=1e18)]              # the largest memories are ~1e13
BytesPerS = Annotated[float, Field(gt=0, le=1e18)]          # wafer SRAM is ~2e16
LinkBytesPerS = Annotated[float, Field(ge=0, le=1e16)]      # NVLink 5 is 9e11 per direction
Seconds = Annotated[float, Field(ge=0, le=1.0)]             # latencies and per-step overheads
Watts = Annotated[float, Field(gt=0, le=1e8)]               # a CS-3 system is ~2.3e4
Usd = Annotated[float, Field(ge=0, le=1e10)]

ChipKind = Literal["gpu", "asic", "lpu_sram", "wafer_scale", "cpu"]


class DenseFlops(Strict):
    """Dense peak FLOP/s (OP/s for integer types) per compute dtype."""

    fp32: FlopsPerS | None = None
    tf32: FlopsPerS | None = None
    bf16: FlopsPerS | None = None
    fp16: FlopsPerS | None = None
    fp8: FlopsPerS | None = None
    int8: FlopsPerS | None = None
    fp4: FlopsPerS | None = None
    int4: FlopsPerS | None = None

    def available(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Compute(Strict):
    dense_flops_per_s: DenseFlops
    # FP32 FLOP/s of the vector units beside the matrix units (CUDA cores, a TPU's VPU; an FMA counts 2):
    # what unpacks and scales weight-only quantised weights. Absent: see model.packing.vector_flops.
    vector_flops_per_s: FlopsPerS | None = None

    @model_validator(mode="after")
    def _some_dtype(self) -> "Compute":
        if not self.dense_flops_per_s.available():
            raise ValueError("compute.dense_flops_per_s lists no dtype: give at least one (e.g. bf16)")
        return self


class MemoryTier(Strict):
    technology: str
    capacity_bytes: Bytes
    bandwidth_bytes_per_s: BytesPerS


class Memory(Strict):
    """On-chip SRAM, off-chip device memory (HBM/GDDR/DDR/LPDDR) and an optional host tier.

    Weights and KV cache live off-chip when the chip has off-chip memory; SRAM-only chips
    (LPU, wafer-scale) hold them in SRAM.
    """

    sram: MemoryTier | None = None
    offchip: MemoryTier | None = None
    host: MemoryTier | None = None

    @model_validator(mode="after")
    def _has_main(self) -> "Memory":
        if self.sram is None and self.offchip is None:
            raise ValueError("memory needs [memory.offchip] or, for SRAM-only chips, [memory.sram]")
        return self

    @property
    def main(self) -> MemoryTier:
        """The tier that holds weights and KV cache."""
        return self.offchip if self.offchip is not None else self.sram  # type: ignore[return-value]


class Interconnect(Strict):
    """Scale-up fabric (0 bandwidth when the chip has none: it then talks over the NIC) and the scale-out NIC,
    which every chip has: KV caches and pipeline stages between servers cross it."""

    scaleup_name: str
    scaleup_bw_bytes_per_s_per_direction: LinkBytesPerS
    scaleup_domain_chips: int = Field(ge=1, le=MAX_COUNT)
    scaleup_latency_s: Seconds
    scaleout_bw_bytes_per_s_per_direction: Annotated[float, Field(gt=0, le=1e16)]
    scaleout_latency_s: Seconds
    # a torus scale-up fabric (TPU ICI, NeuronLink): its dimensions, 0 for a switched or fully connected
    # one. An all-to-all over a torus crosses several links per message, which divides its bandwidth.
    scaleup_torus_dimensions: int = Field(0, ge=0, le=3)

    @model_validator(mode="after")
    def _fabric_for_the_domain(self) -> "Interconnect":
        if self.scaleup_domain_chips > 1 and self.scaleup_bw_bytes_per_s_per_direction == 0:
            raise ValueError(f"scaleup_domain_chips is {self.scaleup_domain_chips} but "
                             "scaleup_bw_bytes_per_s_per_direction is 0: give the scale-up bandwidth, or set "
                             "scaleup_domain_chips = 1 for a chip without a scale-up fabric")
        return self


class Power(Strict):
    tdp_w: Watts


class Bom(Strict):
    """Bill of materials of one chip package, marked up by the seller's gross margin.

    HBM is not a line here: it is priced as capacity x the budget's $/GB for `hbm_generation`,
    so that a change in HBM price flows into the chip price.
    """

    logic_die_usd: Usd
    packaging_usd: Usd
    board_usd: Usd = 0.0
    hbm_generation: str | None = None
    gross_margin_fraction: MarginRange  # price = parts / (1 - margin): 0 <= margin < 1


RentalTerm = Literal["on_demand", "1yr", "3yr", "capacity_block", "spot"]


class Rental(Strict):
    """One dated cloud price of one chip-hour (instance price / chips per instance).

    `term`: on_demand (pay by the hour), 1yr / 3yr (committed use or reserved, effective hourly),
    capacity_block (reserved ahead for days to weeks, AWS), spot (pre-emptible)."""

    provider: str                       # lower case, e.g. aws, gcp, azure, oracle, coreweave, lambda
    term: RentalTerm
    usd_per_chip_hour: Annotated[float, Field(gt=0, le=1e6)]
    date: str = Field(pattern=r"^\d{4}(-\d{2}){0,2}$")   # when the price held: YYYY, YYYY-MM or YYYY-MM-DD
    source: str                         # a source id of this file's [provenance]
    instance: str | None = None         # instance type and chips per instance
    region: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _lower_provider(self) -> "Rental":
        if self.provider != self.provider.lower() or not self.provider:
            raise ValueError(f"rental provider '{self.provider}' must be lower case, e.g. '{self.provider.lower()}'")
        return self


class Price(Strict):
    """What a buyer pays for one chip: a market price range and/or a bill of materials (owners),
    and dated cloud prices per chip-hour (renters)."""

    market_usd: PositiveRange | None = None
    bom: Bom | None = None
    rental: list[Rental] = Field(default_factory=list)
    includes_server: bool = False  # the price is of a whole system (e.g. a Cerebras CS-3)
    note: str | None = None

    @model_validator(mode="after")
    def _some_price(self) -> "Price":
        if self.market_usd is None and self.bom is None:
            raise ValueError("price needs market_usd (low/central/high) or a [price.bom] table")
        return self


class Efficiency(Strict):
    """Achieved fractions of peak, and a fixed per-step overhead: how well software drives it.

    `fitted_on` lists the validation row ids a fitted value came from; an empty list means a
    family default, which `basis` must say.
    """

    prefill_compute: Fraction
    decode_compute: Fraction
    memory_bandwidth: Fraction
    interconnect: Fraction
    step_overhead_s: Seconds
    prefill_overhead_s: Seconds
    usable_memory_fraction: Fraction
    # share of the shorter of an operator's compute and memory times not hidden under the longer; 0 = pure roofline
    overlap_loss: float = Field(0.0, ge=0.0, le=1.0)
    fp4_compute_scale: Fraction | None = None  # FP4 GEMMs' efficiency relative to the other dtypes; absent = the same
    basis: str
    fitted_on: list[str] = Field(default_factory=list)


class SpeculativeUse(Strict):
    """Speculative decoding as the chip's vendor runs it in its service: applied by default to
    this chip's decode when `used`, and said so in the output."""

    used: bool
    draft_tokens: int = Field(ge=1, le=16)   # tokens drafted per verification step
    acceptance: float = Field(ge=0.0, lt=1.0)  # probability each drafted token is accepted
    basis: str                                # source of `used`; what is assumed about the rest


SPATIAL_FITTABLE = ("fabric_hop_s", "interconnect.scaleup_latency_s", "efficiency.step_overhead_s")


class Spatial(Strict):
    """A spatial dataflow chip (kernels/spatial_step.py): weights held in on-chip memory across a mesh
    of processing elements (or streamed through it), activations carried by an on-chip fabric
    and chip-to-chip links layer by layer. `basis` gives the source or reasoning of each field
    (printed by `infersim explain`); at most one field is fitted, on the rows in `fitted_on`."""

    mesh_x_pes: int = Field(ge=1)              # processing elements along one side of the fabric
    mesh_y_pes: int = Field(ge=1)              # ... and along the other
    fabric_hop_s: PositiveFloat                # one PE-to-PE hop
    fabric_link_bw_bytes_per_s: PositiveFloat  # one PE-to-PE link, per direction
    max_regions_per_chip: int = Field(ge=1)    # layer regions one chip may be split into
    weight_streaming: bool = False             # weights beyond the fast memory can stream from [memory.host]
    basis: dict[str, str]
    fitted: str | None = None                  # the fitted field, one of SPATIAL_FITTABLE
    fitted_on: list[str] = Field(default_factory=list)
    speculative: SpeculativeUse | None = None

    @model_validator(mode="after")
    def _fit_is_recorded(self) -> "Spatial":
        if self.fitted is not None and self.fitted not in SPATIAL_FITTABLE:
            raise ValueError(f"spatial.fitted '{self.fitted}' is not one of {', '.join(SPATIAL_FITTABLE)}")
        if (self.fitted is None) != (not self.fitted_on):
            raise ValueError("spatial.fitted and spatial.fitted_on go together: name the fitted field and its rows")
        return self


class ChipSpec(Strict):
    schema_version: int
    id: str
    name: str
    vendor: str
    kind: ChipKind
    release: str | None = None
    provenance: Provenance
    platform: str | None = None   # hardware_specs/platforms/<id>.toml; absent: a generic server for its kind
    compute: Compute
    memory: Memory
    interconnect: Interconnect
    power: Power
    price: Price
    efficiency: Efficiency
    spatial: Spatial | None = None

    @model_validator(mode="after")
    def _rental_sources_cited(self) -> "ChipSpec":
        ids = {src.id for src in self.provenance.sources}
        for i, r in enumerate(self.price.rental):
            if r.source not in ids:
                raise ValueError(f"price.rental[{i}].source '{r.source}' is not a source id of [provenance] "
                                 f"({', '.join(sorted(ids))}): add the source or fix the id")
        return self

    @model_validator(mode="after")
    def _streaming_has_a_tier(self) -> "ChipSpec":
        if self.spatial is not None and self.spatial.weight_streaming and self.memory.host is None:
            raise ValueError("spatial.weight_streaming needs a [memory.host] tier to stream the weights from")
        return self
