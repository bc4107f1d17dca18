"""What the efficiency priors do to a result: a chip's configuration re-derived under efficiencies
drawn from its prior (model.efficiency_prior), for the Monte Carlo bands of compare and the
scenarios. The budget's ranges are sampled by cost.tco.monte_carlo_chip_hour; here the model side.

Each draw re-runs the caller's derivation (search, closed loop...) on the chip with the drawn
efficiencies, so latency targets keep holding in every draw. Draws where the chip can no longer
run the workload are infinite cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InfersimError
from ..model.efficiency_prior import EfficiencyPrior, efficiency_prior
from ..specs.chip import ChipSpec
from ..specs.library import Library

EFFICIENCY_DRAWS = 64   # draws per chip (each one re-derives the configuration); P10/P90 stable to a few %


@dataclass(frozen=True)
class EfficiencyBand:
    chip_id: str
    prior: EfficiencyPrior
    values: np.ndarray        # the caller's quantity per draw (e.g. $/M tokens per $ of chip-hour)

    @property
    def source(self) -> str:
        return f"{self.prior.tier}: {self.prior.source}"

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` values drawn from the draws (to pair with n cost samples)."""
        return self.values[rng.integers(len(self.values), size=n)]

    def percentiles(self, q=(10, 50, 90)) -> np.ndarray:
        finite = self.values[np.isfinite(self.values)]
        return np.percentile(finite, q) if len(finite) else np.full(len(q), math.inf)


def efficiency_band(lib: Library, chip: ChipSpec, value_of: Callable[[ChipSpec], float],
                    draws: int = EFFICIENCY_DRAWS, seed: int = 0) -> EfficiencyBand:
    """`value_of` the chip under `draws` efficiency draws of its prior (an InfersimError in a draw,
    e.g. no configuration meets the targets, counts as +inf)."""
    prior = efficiency_prior(lib, chip)
    values = []
    for c in prior.chip_draws(chip, draws, seed):
        try:
            values.append(float(value_of(c)))
        except InfersimError:
            values.append(math.inf)
    return EfficiencyBand(chip.id, prior, np.array(values))
