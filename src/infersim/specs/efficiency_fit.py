"""Schema of an efficiency-fit file (hardware_specs/efficiency/<family>.toml): what calibration
learned about one hardware family's efficiencies, and how well it knows them.

Written by benchmarks/accuracy/calibrate.py. It holds the family's fitted [efficiency] values, the
rows and sources they rest on, the chips that have rows of their own, the fit's covariance (ln units)
and the spread of a chip about its family (ln units). model/efficiency_prior.py turns these files
into the distribution a chip's efficiencies are drawn from.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .common import NonNegativeFloat, PositiveFloat, Provenance, Strict


class FamilyPrior(Strict):
    """The cross-family prior of a family's maximum-a-posteriori fit (ln units): per parameter its
    centre, sd and the families they come from; `unpooled`: the family's own fit without it."""

    method: str
    weak_pull_only: list[str] = Field(default_factory=list)   # parameters pulled only to the family default
    centre: dict[str, PositiveFloat]
    sd_log: dict[str, PositiveFloat]
    families: dict[str, list[str]]
    unpooled: dict[str, NonNegativeFloat] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _same_keys(self) -> "FamilyPrior":
        if set(self.centre) != set(self.sd_log) or set(self.centre) != set(self.families):
            raise ValueError("prior: centre, sd_log and families must name the same parameters")
        return self


class EfficiencyFamily(Strict):
    schema_version: int
    id: str                                   # the family name (e.g. 'nvidia')
    name: str
    provenance: Provenance
    chip_prefixes: list[str] = Field(min_length=1)   # a chip id starting with one of these is in the family
    kind: str = Field(description="'accelerator' or 'cpu': which chips may borrow this family's fit")
    chip_kinds: list[str] = Field(min_length=1)   # kinds of its chips with rows: a chip of another kind is not in it
    values: dict[str, NonNegativeFloat]       # fitted (or kept-default) [efficiency] values
    fitted: list[str]                         # the parameters fitted (the others kept their family default)
    param_order: list[str]                    # the order of covariance_log's rows and columns (fitted ones)
    covariance_log: list[list[float]]         # Gauss-Newton covariance of ln(parameters) at the fit
    chip_sd_log: NonNegativeFloat             # sd of a chip's bias about its family fit (ln units, derived)
    chips_with_rows: list[str]
    sources: list[str]                        # source groups of the fitted rows
    fitted_on: list[str] = Field(min_length=1)
    rows_per_source: dict[str, PositiveFloat] = Field(default_factory=dict)
    notes: str = ""
    prior: FamilyPrior | None = None          # the cross-family prior of its MAP fit (None: an unpooled fit)

    @model_validator(mode="after")
    def _shapes(self) -> "EfficiencyFamily":
        n = len(self.param_order)
        if len(self.covariance_log) != n or any(len(r) != n for r in self.covariance_log):
            raise ValueError(f"covariance_log must be {n} x {n} (one row and column per param_order entry)")
        missing = [k for k in self.param_order if k not in self.values]
        if missing:
            raise ValueError(f"param_order names parameters without a value: {', '.join(missing)}")
        if self.kind not in ("accelerator", "cpu"):
            raise ValueError(f"kind must be 'accelerator' or 'cpu', got '{self.kind}'")
        return self
