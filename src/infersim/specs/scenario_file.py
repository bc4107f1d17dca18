"""Scenario files (workloads/scenarios/*.toml): a question, the chips, model, traffic and budget
it is asked about, and the expected shape of the answer. `kind` picks the runner."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .common import PositiveFloat, Provenance, Strict
from .price_basis import check_price_basis

ScenarioKind = Literal["pairwise_advantage", "elasticity", "budget_shock", "power_limited", "latency_vs_cost",
                       "request_rate", "tiered"]


class ServingClass(Strict):
    """One class of requests in a tiered deployment, routed to its own tier of chips."""

    name: str
    traffic: str                       # lengths and p99 targets
    chip: str                          # the tier's chip
    rate_per_s: PositiveFloat
    reused_prefix_tokens: float = Field(default=0.0, ge=0)  # context every request already has (agents)
    max_ttft_ms: PositiveFloat | None = None   # overrides the traffic's p99 TTFT target
    max_tpot_ms: PositiveFloat | None = None   # overrides the traffic's p99 TPOT target


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
    input_len: int = Field(default=1024, ge=1)
    output_len: int = Field(default=256, ge=1)
    max_ttft_ms: PositiveFloat | None = None
    max_tpot_ms: PositiveFloat | None = None
    budget: str = "central-2025"
    alt_budget: str | None = None                       # budget_shock: the shocked budget
    price_basis: Annotated[str, AfterValidator(check_price_basis)] = "owner"   # see specs.price_basis
    site_power_mw: PositiveFloat | None = None           # power_limited
    request_rates_per_s: list[PositiveFloat] = Field(default_factory=list)  # request_rate
    batches: list[int] = Field(default_factory=list)     # latency_vs_cost, elasticity
    classes: list[ServingClass] = Field(default_factory=list)  # tiered
    efficiency_like: str | None = None   # what-if: every chip runs at this chip's [efficiency] values
    samples: int = Field(default=20_000, ge=100)
    seed: int = 0

    @model_validator(mode="after")
    def _kind_fields(self) -> "ScenarioSpec":
        need = {
            "pairwise_advantage": ("baseline_chips",), "budget_shock": ("alt_budget",),
            "power_limited": ("site_power_mw",), "request_rate": ("request_rates_per_s",), "tiered": ("classes",),
        }.get(self.kind, ())
        for f in need:
            if not getattr(self, f):
                raise ValueError(f"a '{self.kind}' scenario needs '{f}'")
        return self
