"""TCO and $ per million tokens: a hand-computed case, twins of the cost kernels, Monte Carlo,
monotonicity."""

import numpy as np
import pytest

from infersim.cost.tco import monte_carlo_chip_hour, token_cost, tornado
from infersim.kernels import layout as L
from infersim.kernels.chip_cost import capital_recovery_factor_nb, chip_hour_cost_nb, monte_carlo_chip_hour_nb, triangular_ppf_nb
from infersim.model.configuration import Mapping, Precision, Workload
from infersim.model.evaluate import Result
from tests import naive

RNG = np.random.default_rng(4)


def _chip(price=20_000.0, tdp=1000.0, bom=False):
    p = np.zeros(L.P_FIELDS)
    p[L.P_MARKET_USD] = price
    p[L.P_TDP_W] = tdp
    p[L.P_NET_SCALE] = 1.0
    if bom:
        p[L.P_BOM], p[L.P_PARTS_USD], p[L.P_HBM_GB], p[L.P_HBM_GEN], p[L.P_MARGIN] = 1, 2_000, 100, 3, 0.75
    return p


def _budget():
    b = np.zeros(L.B_FIELDS)
    b[L.B_HBM2:L.B_HBM4 + 1] = (10, 12, 15, 20, 25)
    b[L.B_SERVER_ACC_USD], b[L.B_SERVER_CPU_USD] = 10_000, 4_000
    b[L.B_POWER_OVERHEAD], b[L.B_AVG_POWER] = 0.5, 0.8
    b[L.B_OPTICS_N], b[L.B_OPTICS_USD], b[L.B_OPTICS_W] = 4, 1_000, 15
    b[L.B_PORTS_N], b[L.B_PORT_USD], b[L.B_PORT_W] = 2, 2_500, 20
    b[L.B_USD_PER_KWH], b[L.B_PUE] = 0.10, 1.25
    b[L.B_FACILITY_USD_PER_W], b[L.B_FACILITY_LIFE_Y] = 10.0, 15
    b[L.B_CHIP_LIFE_Y], b[L.B_RATE], b[L.B_UPKEEP] = 5, 0.10, 0.2
    return b


def test_tco_by_hand():
    # chip $20,000, 1,000 W; server share $10,000 and +50 % power; average draw 80 % of peak;
    # network: 4 optics x $1,000 (15 W) + 2 switch ports x $2,500 (20 W) = $9,000 and 100 W.
    # CRF(10 %, 5 y) = 0.1 x 1.1^5 / (1.1^5 - 1) = 0.1610510 / 0.6105100 = 0.2637975
    # CRF(10 %, 15 y) = 0.1 x 1.1^15 / (1.1^15 - 1) = 0.4177248 / 3.1772482 = 0.1314738
    # IT capital: (20,000 + 10,000 + 9,000) x 0.2637975 / 8,766 h = 1.173637 $/h
    #   of which chip 20,000 x 0.2637975 / 8,766 = 0.601865 $/h
    # facility: $10/W x peak IT (1,000 x 1.5 + 100 = 1,600 W) x 0.1314738 / 8,766 = 0.239970 $/h
    # power: average IT (1,500 x 0.8 + 100 = 1,300 W) x PUE 1.25 x $0.10/kWh = 0.162500 $/h
    # upkeep: 0.2 x (1.173637 + 0.239970) = 0.282721 $/h
    # total = 1.173637 + 0.239970 + 0.162500 + 0.282721 = 1.858829 $/h
    out = np.zeros(L.CC_FIELDS)
    total = chip_hour_cost_nb(_chip(), _budget(), out)
    assert capital_recovery_factor_nb(0.10, 5.0) == pytest.approx(0.2637975, abs=1e-7)
    assert out[L.CC_CHIP] == pytest.approx(0.601865, abs=1e-6)
    assert out[L.CC_FACILITY] == pytest.approx(0.239970, abs=1e-6)
    assert out[L.CC_POWER] == pytest.approx(0.162500, abs=1e-9)
    assert out[L.CC_UPKEEP] == pytest.approx(0.282721, abs=1e-6)
    assert total == pytest.approx(1.858829, abs=1e-6)
    assert out[L.CC_SITE_POWER_AVG_W] == pytest.approx(1_625.0)
    # BOM pricing: (2,000 parts + 100 GB x $20/GB HBM3E) / (1 - 0.75) = $16,000, HBM part $8,000
    # -> HBM 8,000 x 0.2637975 / 8,766 = 0.240746 $/h
    chip_hour_cost_nb(_chip(bom=True), _budget(), out)
    assert out[L.CC_CHIP_PRICE_USD] == pytest.approx(16_000.0)
    assert out[L.CC_HBM] == pytest.approx(0.240746, abs=1e-6)


def test_cost_kernels_match_naive():
    for _ in range(300):
        p = _chip(price=RNG.uniform(1e3, 3e6), tdp=RNG.uniform(50, 25_000), bom=RNG.random() < 0.5)
        p[L.P_NET_SCALE] = RNG.uniform(0, 2)
        p[L.P_IS_CPU] = float(RNG.random() < 0.2)
        p[L.P_INCLUDES_SERVER] = float(RNG.random() < 0.2)
        b = _budget() * RNG.uniform(0.5, 1.5, L.B_FIELDS)
        b[L.B_RATE] = RNG.uniform(0, 0.2)
        out = np.zeros(L.CC_FIELDS)
        chip_hour_cost_nb(p, b, out)
        twin = naive.chip_hour_cost(p, b)
        for i, name in enumerate(L.CC_NAMES[:8]):
            assert out[i] == pytest.approx(twin[name], rel=1e-12), name
        assert out[L.CC_SITE_POWER_PEAK_W] == pytest.approx(twin["site_power_peak_w"], rel=1e-12)
    for _ in range(300):
        low, high = sorted(RNG.uniform(0, 10, 2))
        mode = RNG.uniform(low, high)
        u = RNG.random()
        assert triangular_ppf_nb(u, low, mode, high) == pytest.approx(naive.triangular_ppf(u, low, mode, high),
                                                                     rel=1e-9, abs=1e-9)


def test_monte_carlo_kernel_matches_naive_per_sample():
    chips = np.stack([_chip(), _chip(bom=True)])
    price_ranges = np.array([[15_000, 20_000, 30_000], [0.6, 0.75, 0.85]])
    b = _budget()
    ranges = np.stack([b * 0.8, b, b * 1.3], axis=1)
    u_b, u_c = RNG.random((50, L.B_FIELDS)), RNG.random((50, 2))
    out = np.zeros((50, 2))
    monte_carlo_chip_hour_nb(chips, price_ranges, ranges, u_b, u_c, out)
    for s in range(50):
        budget = np.array([naive.triangular_ppf(u_b[s, k], *ranges[k]) for k in range(L.B_FIELDS)])
        for c in range(2):
            p = chips[c].copy()
            x = naive.triangular_ppf(u_c[s, c], *price_ranges[c])
            p[L.P_MARGIN if p[L.P_BOM] == 1 else L.P_MARKET_USD] = x
            assert out[s, c] == pytest.approx(naive.chip_hour_cost(p, budget)["total"], rel=1e-8)


def test_monte_carlo_p50_equals_central_for_symmetric_ranges(lib):
    # every input +-20 % around its central value: the median cost is within 2 % of the central case
    budget = _budget_spec(lib)
    from infersim.cost.inputs import budget_row
    central = budget_row(budget)
    sym = np.stack([central * 0.8, central, central * 1.2], axis=1)
    chip = lib.chip("nvidia-h100-sxm")
    samples = monte_carlo_chip_hour([chip], budget, basis="market", n_samples=20_000, seed=1, ranges=sym)
    from infersim.cost.tco import chip_hour_cost
    c = chip_hour_cost(chip, budget, basis="market").total_usd_per_hour
    assert np.median(samples[:, 0]) == pytest.approx(c, rel=0.02)
    p10, p90 = np.percentile(samples[:, 0], [10, 90])
    assert p10 < c < p90


def _budget_spec(lib):
    ids = lib.ids("budget")
    assert "central-2025" in ids
    return lib.budget("central-2025")


@pytest.mark.parametrize("field", [L.B_USD_PER_KWH, L.B_PUE, L.B_SERVER_ACC_USD, L.B_OPTICS_USD, L.B_RATE,
                                   L.B_FACILITY_USD_PER_W, L.B_UPKEEP, L.B_HBM3E, L.B_POWER_OVERHEAD])
def test_higher_input_never_lowers_cost(field):
    out = np.zeros(L.CC_FIELDS)
    for bom in (False, True):
        base = chip_hour_cost_nb(_chip(bom=bom), _budget(), out)
        for f in (1.01, 1.5, 3.0):
            b = _budget()
            b[field] *= f
            assert chip_hour_cost_nb(_chip(bom=bom), b, out) >= base * (1 - 1e-12)


def test_higher_price_or_longer_life():
    out = np.zeros(L.CC_FIELDS)
    base = chip_hour_cost_nb(_chip(), _budget(), out)
    assert chip_hour_cost_nb(_chip(price=25_000), _budget(), out) > base
    b = _budget()
    b[L.B_CHIP_LIFE_Y] = 6
    assert chip_hour_cost_nb(_chip(), b, out) < base  # a longer life spreads the capital thinner


def test_token_cost_by_hand():
    # 8 chips at $2/h each = $16/h; 4,000 output tok/s = 14.4 M tok/h -> $1.1111 per M output tokens.
    # prefill takes 25 % of the time; 1,024 input per 256 output tokens -> 57.6 M input tok/h:
    # input $16 x 0.25 / 57.6 = $0.069444/M; decode $16 x 0.75 / 14.4 = $0.833333/M.
    r = Result("x", "m", Precision("bf16", "bf16", "bf16", False), Mapping(tp=8), True, 64, 64, 0.1, 0.02, 50.0,
               4000.0, "memory", "compute", 1.0, 1.0, 0.5, 0.25)
    from infersim.cost.tco import ChipHourCost
    cost = ChipHourCost("x", 1, 0, 0, 0, 0, 0.5, 0.5, 2.0, 20_000, 1_000.0, 1_250.0, 1_500.0)
    t = token_cost(r, cost, Workload(1024, 256))
    assert t.usd_per_mtok == pytest.approx(16 / 14.4)
    assert t.usd_per_mtok_input == pytest.approx(16 * 0.25 / 57.6)
    assert t.usd_per_mtok_output_decode == pytest.approx(16 * 0.75 / 14.4)
    # 4,000 tok/s over 8 x 1,250 W = 10 kW = 0.01 MW -> 400,000 tok/s per MW
    assert t.tokens_per_s_per_mw == pytest.approx(400_000.0)


def test_tornado_orders_by_swing(lib):
    budget = _budget_spec(lib)
    chip = lib.chip("nvidia-h100-sxm")
    df = tornado([chip], budget, lambda costs: costs[0], basis="market")
    assert (df["swing"].diff().dropna() <= 1e-12).all()
    assert {"finance.cost_of_capital_per_year", "facility.electricity_usd_per_kwh"} <= set(df["input"])
    top = df.iloc[0]
    assert top["swing"] > df.iloc[-1]["swing"]


def test_fp4_compute_scale_applies_to_fp4_math_only(lib):
    from infersim.model.packing import pack_chip
    chip = lib.chip("nvidia-b200")
    scale = chip.efficiency.fp4_compute_scale
    assert scale is not None and 0 < scale < 1  # fitted on the FP4 rows of the NVIDIA family
    fp4, fp8 = pack_chip(chip, "fp4"), pack_chip(chip, "fp8")
    assert fp4[L.C_EFF_PREFILL] == pytest.approx(chip.efficiency.prefill_compute * scale)
    assert fp4[L.C_EFF_DECODE] == pytest.approx(chip.efficiency.decode_compute * scale)
    assert fp8[L.C_EFF_PREFILL] == pytest.approx(chip.efficiency.prefill_compute)
