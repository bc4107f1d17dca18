"""Efficiency priors: where a chip's efficiencies come from, and the distribution drawn from it."""

import math

import numpy as np
import pytest

from infersim.model.efficiency_prior import BOUNDS, cross_family_centre, efficiency_prior
from infersim.specs.efficiency_fit import EfficiencyFamily

PROV = {"sources": [{"id": "S1", "title": "test rows", "url": "tests", "retrieved": "2026-11-28"}]}
VALUES = {"prefill_compute": 0.6, "decode_compute": 0.5, "memory_bandwidth": 0.8, "interconnect": 0.6,
          "step_overhead_s": 3e-4, "prefill_overhead_s": 3e-4, "overlap_loss": 0.5}


def family(fid, prefixes, chips, values, sd=0.05, chip_sd=0.1, kind="accelerator"):
    order = ["memory_bandwidth", "decode_compute"]
    return EfficiencyFamily(schema_version=1, id=fid, name=fid, provenance=PROV, chip_prefixes=prefixes, kind=kind,
                            chip_kinds=["cpu"] if kind == "cpu" else ["gpu", "asic"],
                            values=values, fitted=order, param_order=order,
                            covariance_log=[[sd ** 2, 0.0], [0.0, sd ** 2]], chip_sd_log=chip_sd,
                            chips_with_rows=chips, sources=["test"], fitted_on=["T-1"])


@pytest.fixture(scope="module")
def fams():
    return [family("green", ["nvidia-"], ["nvidia-h100-sxm"], VALUES),
            family("red", ["amd-"], ["amd-mi300x"], {**VALUES, "memory_bandwidth": 0.5, "decode_compute": 0.2})]


def test_tiers(lib, fams):
    assert efficiency_prior(lib, "nvidia-h100-sxm", fams).tier == "own rows"
    assert efficiency_prior(lib, "nvidia-b200", fams).tier == "family fit"
    prior = efficiency_prior(lib, "google-tpu-v7", fams)
    assert prior.tier == "cross-family prior" and "green, red" in prior.source
    # a vendor's CPU never borrows its accelerators' family fit: CPUs have no family here, so the
    # prior falls back to every family
    assert efficiency_prior(lib, "amd-epyc-9965", fams).tier == "cross-family prior"
    assert efficiency_prior(lib, "nvidia-h100-sxm", []).tier == "chip file"
    # a spatial chip keeps its own fit's values at the centre, varied with the families' spread
    groq = efficiency_prior(lib, "groq-lpu-v1", fams)
    assert groq.tier == "own spatial fit" and groq.centre["memory_bandwidth"] == \
        lib.chip("groq-lpu-v1").efficiency.memory_bandwidth


def test_family_fit_draws_carry_the_fit_and_the_chip_spread(lib, fams):
    """A chip without rows: ln(bandwidth) varies with sd sqrt(fit^2 + chip^2) = sqrt(0.05^2 + 0.1^2) = 0.112
    around the family's 0.8 (draws clipped at 1 only in the far tail)."""
    draws = efficiency_prior(lib, "nvidia-b200", fams).sample(np.random.default_rng(1), 4000)
    x = np.log([d["memory_bandwidth"] for d in draws])
    assert np.median(x) == pytest.approx(math.log(0.8), abs=0.01)
    assert np.std(x) == pytest.approx(math.hypot(0.05, 0.1), rel=0.06)
    # overheads move the other way from the fractions (one factor per draw)
    d0 = draws[0]
    assert d0["interconnect"] / 0.6 == pytest.approx(3e-4 / d0["step_overhead_s"], rel=1e-9)


def test_own_rows_only_carry_the_fit(lib, fams):
    draws = efficiency_prior(lib, "nvidia-h100-sxm", fams).sample(np.random.default_rng(2), 4000)
    x = np.log([d["decode_compute"] for d in draws])
    assert np.std(x) == pytest.approx(0.05, rel=0.06)
    assert {d["interconnect"] for d in draws} == {lib.chip("nvidia-h100-sxm").efficiency.interconnect}


def test_cross_family_prior_draws_whole_families(lib, fams):
    draws = efficiency_prior(lib, "google-tpu-v7", fams).sample(np.random.default_rng(3), 2000)
    bw = np.array([d["memory_bandwidth"] for d in draws])
    # two families (0.8 and 0.5), each drawn about half the time
    assert 0.4 < np.mean(bw > math.sqrt(0.8 * 0.5)) < 0.6
    assert cross_family_centre(fams, "accelerator")["memory_bandwidth"] == pytest.approx(0.65)
    for d in draws:
        for k, v in d.items():
            lo, hi = BOUNDS[k]
            assert lo <= v <= hi or (k == "overlap_loss" and v == 0.0)


def test_an_unconstrained_fit_is_capped_by_the_spread_across_families(lib, fams):
    loose = family("green", ["nvidia-"], ["nvidia-h100-sxm"], VALUES, sd=3.0)
    prior = efficiency_prior(lib, "nvidia-h100-sxm", [loose, fams[1]])
    spread = abs(math.log(0.8) - math.log(0.5)) / math.sqrt(2)   # sd (ddof 1) of two values
    assert prior.sd_log["memory_bandwidth"] == pytest.approx(spread, rel=1e-9)


def test_chip_draws_are_chips(lib, fams):
    chip = lib.chip("nvidia-b200")
    chips = efficiency_prior(lib, chip, fams).chip_draws(chip, 5, seed=4)
    assert len(chips) == 5 and len({c.efficiency.memory_bandwidth for c in chips}) == 5


@pytest.mark.jit_only
def test_compare_bands_carry_each_chips_efficiency_prior(lib):
    """compare --uncertainty: with the budget's ranges alone the bands of two chips on one platform
    family are alike; with the efficiency priors, a chip without a fitted family (cross-family prior)
    has a wider band than a chip with rows of its own, and every row says where its efficiencies
    come from."""
    from infersim.analysis.compare import compare
    from infersim.model.configuration import Workload

    chips = ["nvidia-h100-sxm", "google-tpu-v7", "huawei-ascend-910c"]
    tiers = {c: efficiency_prior(lib, c).tier for c in chips}
    assert tiers["nvidia-h100-sxm"] == "own rows" and tiers["huawei-ascend-910c"] == "cross-family prior"
    t = compare(lib, "llama-3.1-8b", chips, Workload(1024, 256), "fp8", "fp8", budget=lib.budget("central-2025"),
                uncertainty_samples=2000, efficiency_draws=24).table.set_index("chip")
    for c in chips:
        r = t.loc[c]
        assert r["efficiency_source"] == tiers[c] and r["efficiency_basis"]
        assert r["usd_per_mtok_p10"] < r["usd_per_mtok_p50"] < r["usd_per_mtok_p90"]
    width = (t["usd_per_mtok_p90"] / t["usd_per_mtok_p10"]).to_dict()
    assert width["huawei-ascend-910c"] > width["nvidia-h100-sxm"]
    # a chip of a fitted family without rows of its own (TPU v7) is not compared: since the family fits are
    # MAP under the cross-family prior its band can match an own-rows chip's (the family's few rows see the
    # step overhead that nvidia's high-batch rows leave open), so no order between those two tiers is implied
