"""Sweep files (workloads/sweeps/*.toml): the axes of a design-space sweep and how to reduce it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from .common import PositiveFloat, Provenance, Strict
from .price_basis import check_price_basis


class ChipScale(Strict):
    """Hypothetical chips: multipliers of a chip's figures (each list is an axis)."""

    flops: list[PositiveFloat] = Field(default_factory=lambda: [1.0])
    memory_bandwidth: list[PositiveFloat] = Field(default_factory=lambda: [1.0])
    memory_capacity: list[PositiveFloat] = Field(default_factory=lambda: [1.0])   # HBM GB scale its cost too
    power: list[PositiveFloat] = Field(default_factory=lambda: [1.0])
    price: list[PositiveFloat] = Field(default_factory=lambda: [1.0])


class BudgetScale(Strict):
    electricity: list[PositiveFloat] = Field(default_factory=lambda: [1.0])
    hbm_price: list[PositiveFloat] = Field(default_factory=lambda: [1.0])


class Reduce(Strict):
    """What is kept of the points: the best k per chip variant, the Pareto front, a histogram."""

    top_k: int = Field(default=5, ge=0)
    pareto: bool = True
    histogram_bins: int = Field(default=60, ge=0)
    max_ttft_ms: PositiveFloat | None = None   # points slower than the targets are not kept
    max_tpot_ms: PositiveFloat | None = None


class SweepSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    models: list[str] = Field(min_length=1)
    chips: list[str] = Field(default_factory=list)      # every chip in the library when empty
    weight_dtype: str = "fp8"
    kv_dtype: str = "fp8"
    tp: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    pp: list[int] = Field(default_factory=lambda: [1])
    batch: list[int] = Field(default_factory=lambda: [1, 8, 64, 256])
    input_len: list[int] = Field(default_factory=lambda: [1024])
    output_len: list[int] = Field(default_factory=lambda: [256])
    budget: str = "central-2025"
    price_basis: Annotated[str, AfterValidator(check_price_basis)] = "owner"   # see specs.price_basis
    scale: ChipScale = Field(default_factory=ChipScale)
    budget_scale: BudgetScale = Field(default_factory=BudgetScale)
    reduce: Reduce = Field(default_factory=Reduce)
