"""Scenario files (workloads/scenarios/*.toml): a question, the chips, model, traffic and budget
it is asked about, and the expected shape of the answer. `kind` picks the runner."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .common import (
    MAX_COUNT, MAX_TOKENS, MAX_YEARS, NonNegativeRange, PositiveFloat, Provenance, Strict, no_repeats,
)
from .price_basis import check_price_basis

Rate = Annotated[float, Field(gt=0, le=1e9)]                 # requests/s
TargetMs = Annotated[float, Field(gt=0, le=1e9)]
MAX_SAMPLES = 1_000_000  # Monte Carlo samples: ~30 floats each (memory bound)

ScenarioKind = Literal["pairwise_advantage", "elasticity", "budget_shock", "power_limited", "latency_vs_cost",
                       "request_rate", "tiered", "migration", "optics", "time_to_power"]


class ServingClass(Strict):
    """One class of requests in a tiered deployment, routed to its own tier of chips."""

    name: str
    traffic: str                       # lengths and p99 targets
    chip: str                          # the tier's chip
    rate_per_s: Rate
    reused_prefix_tokens: float = Field(default=0.0, ge=0, le=MAX_TOKENS)  # context every request already has (agents)
    max_ttft_ms: TargetMs | None = None   # overrides the traffic's p99 TTFT target
    max_tpot_ms: TargetMs | None = None   # overrides the traffic's p99 TPOT target


class OnsitePower(Strict):
    """Generation built on the site while it waits for the grid (gas turbines, fuel cells)."""

    capex_usd_per_kw: NonNegativeRange
    energy_usd_per_kwh: NonNegativeRange
    years_to_power: NonNegativeRange       # from the decision to first power
    life_years: float = Field(gt=0, le=MAX_YEARS)  # over which its capital is recovered


class MigrationCase(Strict):
    """A published move from one chip to another and the saving reported for it, rebuilt with the
    prices of its time (`price_basis`, e.g. rental:gcp:on_demand@2025-03) and a workload."""

    name: str
    from_chip: str
    to_chip: str
    price_basis: Annotated[str, AfterValidator(check_price_basis)]
    reported_saving: float = Field(ge=-1, le=1)            # 1 - new cost / old cost, as the claim states it
    reported_saving_high: float | None = Field(default=None, ge=-1, le=1)   # when the claim is a range
    claim: str                                             # what was claimed, by whom, when [source id]
    model: str
    weight_dtype: str = "fp8"
    kv_dtype: str = "fp8"
    input_len: int = Field(default=1024, ge=1, le=MAX_TOKENS)
    output_len: int = Field(default=256, ge=1, le=MAX_TOKENS)
    max_tpot_ms: TargetMs | None = None
    workload_note: str = ""                                # how the workload stands in for the real one


class ScenarioSpec(Strict):
    schema_version: int
    id: str
    name: str
    kind: ScenarioKind
    question: str
    expected_shape: str = Field(description="what a reader should expect the answer to look like, before running")
    provenance: Provenance
    model: str
    chips: list[str] = Field(default_factory=list)     # every chip in the library when empty
    baseline_chips: list[str] = Field(default_factory=list)  # pairwise_advantage: the GPUs compared against
    weight_dtype: str = "fp8"
    kv_dtype: str = "fp8"
    input_len: int = Field(default=1024, ge=1, le=MAX_TOKENS)
    output_len: int = Field(default=256, ge=1, le=MAX_TOKENS)
    allow_long_context: bool = False  # model input_len + output_len beyond the model's max_position_embeddings
    speculative: str | None = None     # speculative decoding: 'mtp' or a draft model id (see model.speculative)
    draft_tokens: Annotated[int, Field(ge=1, le=16)] | None = None
    acceptance: Annotated[float, Field(ge=0, lt=1)] | None = None
    max_ttft_ms: TargetMs | None = None
    max_tpot_ms: TargetMs | None = None
    budget: str = "central-2025"
    alt_budget: str | None = None                       # budget_shock: the shocked budget
    price_basis: Annotated[str, AfterValidator(check_price_basis)] = "owner"   # see specs.price_basis
    site_power_mw: Annotated[float, Field(gt=0, le=1e6)] | None = None   # power_limited
    request_rates_per_s: list[Rate] = Field(default_factory=list, max_length=10_000)  # request_rate
    batches: list[Annotated[int, Field(ge=1, le=MAX_COUNT)]] = Field(default_factory=list, max_length=1_000)
    classes: list[ServingClass] = Field(default_factory=list)  # tiered
    cases: list[MigrationCase] = Field(default_factory=list)    # migration
    not_rebuilt: list[str] = Field(default_factory=list)        # migration: published cases left out, and why
    cluster_chips: list[PositiveFloat] = Field(default_factory=list)   # optics: scale-out cluster sizes
    fabrics: list[str] = Field(default_factory=list)            # optics: the budget's fabrics to compare
    grid_delay_years: list[Annotated[float, Field(gt=0, le=MAX_YEARS)]] = Field(default_factory=list)  # time_to_power
    horizon_years: Annotated[float, Field(gt=0, le=MAX_YEARS)] | None = None   # time_to_power
    build_years: NonNegativeRange | None = None                            # time_to_power: construction, ground to live
    onsite_power: OnsitePower | None = None                     # time_to_power: behind-the-meter generation
    rent_basis: Annotated[str, AfterValidator(check_price_basis)] | None = None  # time_to_power: renting meanwhile
    efficiency_like: str | None = None   # what-if: every chip runs at this chip's [efficiency] values
    # pairwise_advantage: price bases to answer from (default: price_basis), load profiles (default flat),
    # efficiency variants ("own" = each chip's own; a chip id = every chip at that chip's efficiencies)
    views: list[Annotated[str, AfterValidator(check_price_basis)]] = Field(default_factory=list)
    load_profiles: list[str] = Field(default_factory=list)
    efficiency_variants: list[str] = Field(default_factory=list)
    # draw each chip's efficiencies from its prior (model/efficiency_prior.py) with the budget's ranges;
    # false: every draw at the chip files' values (the bands then show the cost inputs only)
    efficiency_uncertainty: bool = True
    samples: int = Field(default=20_000, ge=100, le=MAX_SAMPLES)
    seed: int = 0

    @model_validator(mode="after")
    def _kind_fields(self) -> "ScenarioSpec":
        need = {
            "pairwise_advantage": ("baseline_chips",), "budget_shock": ("alt_budget",),
            "power_limited": ("site_power_mw",), "request_rate": ("request_rates_per_s",), "tiered": ("classes",),
            "migration": ("cases",), "optics": ("cluster_chips", "fabrics"),
            "time_to_power": ("grid_delay_years", "horizon_years", "build_years", "onsite_power", "site_power_mw"),
        }.get(self.kind, ())
        for f in need:
            if not getattr(self, f):
                raise ValueError(f"a '{self.kind}' scenario needs '{f}'")
        for f in ("chips", "baseline_chips", "request_rates_per_s", "batches"):
            no_repeats(getattr(self, f), f)
        no_repeats([c.name for c in self.classes], "classes (by name)")
        return self
