"""Traffic: request length distributions, arrival rate and latency targets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .common import MAX_TOKENS, Provenance, Strict

Tokens = Annotated[float, Field(ge=1, le=MAX_TOKENS)]   # a request has at least one token
PerSecond = Annotated[float, Field(gt=0, le=1e9)]
TargetSeconds = Annotated[float, Field(gt=0, le=1e6)]


class LengthDistribution(Strict):
    """Tokens per request. `fixed`: every request has `mean_tokens`; `lognormal`: with `cv`."""

    kind: Literal["fixed", "lognormal"] = "fixed"
    mean_tokens: Tokens
    cv: float = Field(default=0.0, ge=0, le=100)
    max_tokens: Tokens | None = None

    @model_validator(mode="after")
    def _max_above_mean(self) -> "LengthDistribution":
        if self.max_tokens is not None and self.max_tokens < self.mean_tokens:
            raise ValueError(f"max_tokens {self.max_tokens:g} is below mean_tokens {self.mean_tokens:g}: "
                             "raise max_tokens or lower mean_tokens")
        return self


class TrafficSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    input: LengthDistribution
    output: LengthDistribution
    arrival_rate_per_s: PerSecond | None = None
    ttft_target_s: TargetSeconds | None = None
    tpot_target_s: TargetSeconds | None = None
    description: str = Field(default="")


def lengths_around(traffic: TrafficSpec | None, input_tokens: float,
                   output_tokens: float) -> tuple[LengthDistribution, LengthDistribution]:
    """(inputs, outputs) with the given mean lengths: the traffic spec's spread around them, or fixed
    lengths when there is no spec."""
    if traffic is None:
        return LengthDistribution(mean_tokens=input_tokens), LengthDistribution(mean_tokens=output_tokens)
    return (traffic.input.model_copy(update={"mean_tokens": float(input_tokens)}),
            traffic.output.model_copy(update={"mean_tokens": float(output_tokens)}))
