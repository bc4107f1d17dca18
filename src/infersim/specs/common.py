"""Pieces shared by every spec schema: the strict base model, provenance, ranges.

Physical validation: every number is finite (no inf or nan), of its own type (`true` is not a
number, 1.5 is not a count, "700" is not a number), and within what physics allows for its unit:
rates, capacities, prices and lengths positive, fractions in their interval. The bounds above
(`MAX_*`) are far beyond any real chip or deployment; they keep a typo from overflowing the
arithmetic (1e308 W) and the search from building lists without bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]

# Upper bounds: 1000x beyond anything real, so that a typo is caught and no sum overflows.
MAX_TOKENS = 10**9                # tokens in one request (prompt or output)
MAX_COUNT = 10**6                 # chips, batch, experts, list entries of one axis
MAX_YEARS = 100.0                 # useful lives
MAX_AMOUNT = 1e12                 # any price ($), count or power (W) per chip in a budget range


class Strict(BaseModel):
    """Frozen, every unknown key an error (never silently dropped), types strict (a bool or a string is
    not a number, a fraction is not a count) and every float finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def no_repeats(values: Sequence, what: str) -> None:
    """Raise naming the entries of `values` that appear more than once (an axis listed twice)."""
    seen, dupes = set(), []
    for v in values:
        if v in seen and v not in dupes:
            dupes.append(v)
        seen.add(v)
    if dupes:
        raise ValueError(f"{what} lists {', '.join(map(str, dupes))} more than once: list each value once")


class Source(Strict):
    """One cited source. `id` is what the comments beside numbers refer to, e.g. [S1]."""

    id: str
    title: str
    url: str
    retrieved: str = Field(description="date the source was read, YYYY-MM-DD")


class Provenance(Strict):
    sources: list[Source] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> "Provenance":
        ids = [s.id for s in self.sources]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"source ids repeated: {', '.join(sorted(dupes))}")
        return self


class Range(Strict):
    """Low / central / high estimate of one quantity (same unit as the field name); finite, ordered."""

    low: float
    central: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not (self.low <= self.central <= self.high):
            raise ValueError(f"expected low <= central <= high, got {self.low:g}, {self.central:g}, {self.high:g}: "
                             "reorder them")
        return self


class NonNegativeRange(Range):
    """A price, count or power: zero or more (a negative price would pay the buyer)."""

    low: float = Field(ge=0, le=MAX_AMOUNT)
    central: float = Field(ge=0, le=MAX_AMOUNT)
    high: float = Field(ge=0, le=MAX_AMOUNT)


class PositiveRange(Range):
    """A quantity that must be above zero (a market price, a $/GB)."""

    low: float = Field(gt=0, le=MAX_AMOUNT)
    central: float = Field(gt=0, le=MAX_AMOUNT)
    high: float = Field(gt=0, le=MAX_AMOUNT)


class MarginRange(Range):
    """A gross margin: price = cost / (1 - margin), so 0 <= margin < 1 (1 would be an infinite price)."""

    low: float = Field(ge=0, lt=1)
    central: float = Field(ge=0, lt=1)
    high: float = Field(ge=0, lt=1)


class FractionRange(Range):
    """A share of a whole, in (0, 1] (e.g. average power / peak)."""

    low: float = Field(gt=0, le=1)
    central: float = Field(gt=0, le=1)
    high: float = Field(gt=0, le=1)


class PueRange(Range):
    """Power usage effectiveness: site power / IT power, at least 1 (a site cannot use less than its IT load)."""

    low: float = Field(ge=1, le=10)
    central: float = Field(ge=1, le=10)
    high: float = Field(ge=1, le=10)


class LifeRange(Range):
    """A useful life in years: above zero (capital is recovered over it), at most MAX_YEARS."""

    low: float = Field(gt=0, le=MAX_YEARS)
    central: float = Field(gt=0, le=MAX_YEARS)
    high: float = Field(gt=0, le=MAX_YEARS)


class RateRange(Range):
    """A cost of capital per year, as a fraction: 0 (no interest) to 1 (100 % a year)."""

    low: float = Field(ge=0, le=1)
    central: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
