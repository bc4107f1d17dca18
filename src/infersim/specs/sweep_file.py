"""Sweep files (workloads/sweeps/*.toml): the axes of a design-space sweep and how to reduce it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from .common import MAX_COUNT, MAX_TOKENS, Provenance, Strict, no_repeats
from .price_basis import check_price_basis

AXIS_MAX = 100_000                                               # values on one axis
Scale = Annotated[float, Field(gt=0, le=1e6)]                    # a multiplier of a chip's or budget's figure
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Tokens = Annotated[int, Field(ge=1, le=MAX_TOKENS)]


def _axis(*default):
    """A list field that is one axis of the grid: at least one value, each once."""
    return Field(default_factory=lambda: list(default), min_length=1, max_length=AXIS_MAX)


class _Axes(Strict):
    @model_validator(mode="after")
    def _each_value_once(self):
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, list):
                no_repeats(value, name)
        return self


class ChipScale(_Axes):
    """Hypothetical chips: multipliers of a chip's figures (each list is an axis)."""

    flops: list[Scale] = _axis(1.0)
    memory_bandwidth: list[Scale] = _axis(1.0)
    memory_capacity: list[Scale] = _axis(1.0)   # HBM GB scale its cost too
    power: list[Scale] = _axis(1.0)
    price: list[Scale] = _axis(1.0)


class BudgetScale(_Axes):
    electricity: list[Scale] = _axis(1.0)
    hbm_price: list[Scale] = _axis(1.0)


class Reduce(Strict):
    """What is kept of the points: the best k per chip variant, the Pareto front, a histogram."""

    top_k: int = Field(default=5, ge=0, le=10_000)
    pareto: bool = True
    histogram_bins: int = Field(default=60, ge=0, le=100_000)
    max_ttft_ms: Annotated[float, Field(gt=0, le=1e9)] | None = None   # points slower than the targets are not kept
    max_tpot_ms: Annotated[float, Field(gt=0, le=1e9)] | None = None


class SweepSpec(_Axes):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    models: list[str] = Field(min_length=1, max_length=AXIS_MAX)
    chips: list[str] = Field(default_factory=list, max_length=AXIS_MAX)  # every chip in the library when empty
    weight_dtype: str = "fp8"
    kv_dtype: str = "fp8"
    tp: list[Count] = _axis(1, 2, 4, 8)
    pp: list[Count] = _axis(1)
    batch: list[Count] = _axis(1, 8, 64, 256)
    input_len: list[Tokens] = _axis(1024)
    output_len: list[Tokens] = _axis(256)
    allow_long_context: bool = False  # points past a model's max_position_embeddings are modelled, not refused
    speculative: str | None = None     # speculative decoding: 'mtp' or a draft model id (one model per sweep)
    draft_tokens: Annotated[int, Field(ge=1, le=16)] | None = None
    acceptance: Annotated[float, Field(ge=0, lt=1)] | None = None
    budget: str = "central-2025"
    price_basis: Annotated[str, AfterValidator(check_price_basis)] = "owner"   # see specs.price_basis
    scale: ChipScale = Field(default_factory=ChipScale)
    budget_scale: BudgetScale = Field(default_factory=BudgetScale)
    reduce: Reduce = Field(default_factory=Reduce)
