"""Traffic: request length distributions, arrival rate and latency targets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import NonNegativeFloat, PositiveFloat, Provenance, Strict


class LengthDistribution(Strict):
    """Tokens per request. `fixed`: every request has `mean_tokens`; `lognormal`: with `cv`."""

    kind: Literal["fixed", "lognormal"] = "fixed"
    mean_tokens: PositiveFloat
    cv: NonNegativeFloat = 0.0
    max_tokens: PositiveFloat | None = None


class TrafficSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    input: LengthDistribution
    output: LengthDistribution
    arrival_rate_per_s: PositiveFloat | None = None
    ttft_target_s: PositiveFloat | None = None
    tpot_target_s: PositiveFloat | None = None
    description: str = Field(default="")


def lengths_around(traffic: TrafficSpec | None, input_tokens: float,
                   output_tokens: float) -> tuple[LengthDistribution, LengthDistribution]:
    """(inputs, outputs) with the given mean lengths: the traffic spec's spread around them, or fixed
    lengths when there is no spec."""
    if traffic is None:
        return LengthDistribution(mean_tokens=input_tokens), LengthDistribution(mean_tokens=output_tokens)
    return (traffic.input.model_copy(update={"mean_tokens": float(input_tokens)}),
            traffic.output.model_copy(update={"mean_tokens": float(output_tokens)}))
