"""Load profiles (workloads/load_profiles/<id>.toml): how a service's request rate moves over a day
or a week, relative to its mean. Capacity is sized for the peak; the mean is what is served."""

from __future__ import annotations

from pydantic import Field, model_validator

from .common import Provenance, Strict


class LoadProfileSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    hourly_relative_rate: list[float] = Field(min_length=1)   # one value per hour, any scale; 1 value = flat
    description: str = Field(default="")

    @model_validator(mode="after")
    def _positive(self) -> "LoadProfileSpec":
        bad = [i for i, v in enumerate(self.hourly_relative_rate) if not v >= 0]
        if bad or max(self.hourly_relative_rate) <= 0:
            raise ValueError(f"hourly_relative_rate needs values >= 0 and one above 0 (hour {bad[0] if bad else 0})")
        return self

    @property
    def relative(self) -> list[float]:
        """The hourly rates divided by their mean (mean 1)."""
        m = sum(self.hourly_relative_rate) / len(self.hourly_relative_rate)
        return [v / m for v in self.hourly_relative_rate]

    @property
    def peak_to_mean(self) -> float:
        return max(self.relative)
