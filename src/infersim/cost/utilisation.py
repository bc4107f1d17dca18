"""What a load that moves over the day costs: capacity is sized for the peak hour under the latency
targets, and the mean is what is served.

Everything is per unit of mean demand: one "mean chip" is the chips that serve the mean rate at
their capacity under the targets. With the rate r(t) relative to its mean (mean 1, peak P):

- an owner provisions P mean-chips; they all cost their capital every hour, and draw power between
  idle and full in proportion to their load (mean utilisation 1 / P), so per mean-chip-hour
  P (capital + idle power) + (full power - idle power);
- a renter commits to x mean-chips at the reserved price p_r and rents the rest by the hour at the
  on-demand price p_od: x p_r + p_od mean(max(0, r - x)). The best x is the smallest rate exceeded
  in no more than a share p_r / p_od of the hours (reserve a chip that is busy more of the time
  than its reserved price is a share of the on-demand price). With no on-demand price, x = P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InfersimError


@dataclass(frozen=True)
class Profile:
    """A load profile, relative to its mean."""

    relative: np.ndarray

    @classmethod
    def of(cls, hourly) -> "Profile":
        r = np.asarray(hourly, dtype=float)
        if r.size == 0 or not np.all(r >= 0) or r.sum() <= 0:
            raise InfersimError("a load profile needs one or more hourly rates >= 0, not all 0")
        return cls(r / r.mean())

    @property
    def peak_to_mean(self) -> float:
        return float(self.relative.max())

    @property
    def mean_utilisation(self) -> float:
        """Mean load over capacity sized for the peak."""
        return 1.0 / self.peak_to_mean


def owner_usd_per_mean_chip_hour(total, power, power_idle, profile: Profile):
    """$ per hour per mean-chip of an owner's fleet sized for the peak (arrays broadcast):
    P (total - power + idle) + (power - idle), with total and power at full load."""
    p = profile.peak_to_mean
    total, power, power_idle = (np.asarray(a, dtype=float) for a in (total, power, power_idle))
    return p * (total - power + power_idle) + (power - power_idle)


def best_reservation(reserved, on_demand, profile: Profile) -> np.ndarray:
    """Mean-chips to reserve (per sample when prices are arrays): the smallest rate exceeded in no
    more than a share reserved / on_demand of the hours; the peak when there is no on-demand price."""
    reserved = np.asarray(reserved, dtype=float)
    if on_demand is None:
        return np.full(reserved.shape, profile.peak_to_mean)
    on_demand = np.broadcast_to(np.asarray(on_demand, dtype=float), reserved.shape)
    share = np.clip(reserved / on_demand, 0.0, 1.0)        # hours a reserved chip must be busy to pay
    q = 1.0 - share
    r = np.sort(profile.relative)
    n = r.size
    # smallest order statistic with at most `share` of the hours above it: index ceil(n q) - 1
    k = np.ceil(n * q - 1e-12).astype(int) - 1
    return np.where(k < 0, 0.0, r[np.clip(k, 0, n - 1)])


def renter_usd_per_mean_chip_hour(reserved, on_demand, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """($ per hour per mean-chip, reserved mean-chips) of a renter mixing a commitment and on-demand
    capacity at its best split. `on_demand` None: everything reserved for the peak."""
    reserved = np.asarray(reserved, dtype=float)
    x = best_reservation(reserved, on_demand, profile)
    if on_demand is None:
        return x * reserved, x
    over = np.clip(profile.relative[None, :] - np.atleast_1d(x)[:, None], 0.0, None).mean(axis=1)
    cost = x * reserved + np.asarray(on_demand, dtype=float) * over.reshape(np.shape(x))
    return cost, x
