"""Fleets sized for the peak of a load profile: owners' idle power, renters' reserved/on-demand split."""

import numpy as np
import pytest

from infersim.cost.utilisation import (
    Profile, best_reservation, owner_usd_per_mean_chip_hour, renter_usd_per_mean_chip_hour,
)

RNG = np.random.default_rng(11)


def test_owner_by_hand():
    # rates 1, 1, 2, 4 per hour: mean 2, relative 0.5, 0.5, 1, 2, peak P = 2 (utilisation 1/2).
    # A chip costs $3/h at full load, of which power $1/h (idle $0.20/h). The fleet holds P = 2 chips per
    # mean chip; each pays capital 3 - 1 = 2 and idle power 0.2 every hour, and the load adds
    # (1 - 0.2) per mean chip: 2 x (2 + 0.2) + 0.8 = 5.2 $ per mean-chip-hour.
    p = Profile.of([1, 1, 2, 4])
    assert p.peak_to_mean == 2 and p.mean_utilisation == 0.5
    assert owner_usd_per_mean_chip_hour(3.0, 1.0, 0.2, p) == pytest.approx(5.2)
    # a flat load costs the full-load hour
    assert owner_usd_per_mean_chip_hour(3.0, 1.0, 0.2, Profile.of([7.0])) == pytest.approx(3.0)


def test_renter_by_hand():
    # same profile; reserved $1/h, on-demand $2/h: reserve while a chip is busy >= 1/2 of the hours.
    # Sorted rates 0.5, 0.5, 1, 2: 0.5 is exceeded in 2 of 4 hours (= 1/2): reserve 0.5 mean chips;
    # on-demand covers mean(max(0, r - 0.5)) = (0 + 0 + 0.5 + 1.5) / 4 = 0.5: 0.5 x 1 + 0.5 x 2 = 1.5.
    p = Profile.of([1, 1, 2, 4])
    cost, x = renter_usd_per_mean_chip_hour(np.array([1.0]), 2.0, p)
    assert x[0] == 0.5 and cost[0] == pytest.approx(1.5)
    # all on-demand (reserved price = on-demand): pays the mean, reserves nothing
    cost, x = renter_usd_per_mean_chip_hour(np.array([2.0]), 2.0, p)
    assert x[0] == 0.0 and cost[0] == pytest.approx(2.0)
    # no on-demand offer: everything reserved for the peak, 2 x $1
    cost, x = renter_usd_per_mean_chip_hour(np.array([1.0]), None, p)
    assert x[0] == 2.0 and cost[0] == pytest.approx(2.0)


def test_renter_split_is_the_cheapest_of_every_split():
    # brute force over every reservation level on a fine grid: the rule's cost is never beaten
    for _ in range(200):
        p = Profile.of(RNG.gamma(2.0, 1.0, RNG.integers(1, 60)))
        pr = RNG.uniform(0.2, 3.0, 5)
        pod = RNG.uniform(0.5, 3.0)
        cost, _ = renter_usd_per_mean_chip_hour(pr, pod, p)
        grid = np.linspace(0, p.peak_to_mean, 2001)
        brute = (grid[None, :] * pr[:, None]
                 + pod * np.clip(p.relative[None, None, :] - grid[None, :, None], 0, None).mean(axis=2)).min(axis=1)
        assert np.all(cost <= brute + 1e-9)


def test_variable_load_never_costs_less_per_token():
    # an owner or a renter pays at least as much per mean chip under any profile as under a flat one
    for _ in range(100):
        p = Profile.of(RNG.uniform(0.1, 3.0, 24))
        total, power = RNG.uniform(1, 5), RNG.uniform(0.05, 0.5)
        idle = power * RNG.uniform(0, 1)
        assert owner_usd_per_mean_chip_hour(total, power, idle, p) >= total - 1e-12
        pr, pod = RNG.uniform(0.5, 2), RNG.uniform(2, 4)
        cost, x = renter_usd_per_mean_chip_hour(np.array([pr]), pod, p)
        assert cost[0] >= pr - 1e-12 and 0 <= x[0] <= p.peak_to_mean
        assert best_reservation(np.array([pr]), pod, p)[0] == x[0]
