"""TCO and $ per million tokens: a hand-computed case, twins of the cost kernels, Monte Carlo,
monotonicity."""

import numpy as np
import pytest

from infersim.cost.tco import monte_carlo_chip_hour, token_cost, tornado
from infersim.kernels import layout as L
from infersim.kernels.chip_cost import (
    capital_recovery_factor_nb, chip_hour_cost_nb, fat_tree_nb, monte_carlo_chip_hour_nb, triangular_ppf_nb,
)
from infersim.model.configuration import Mapping, Precision, Workload
from infersim.model.evaluate import Result
from tests import naive

RNG = np.random.default_rng(4)


def _chip(price=20_000.0, tdp=1000.0, bom=False):
    p = np.zeros(L.P_FIELDS)
    p[L.P_MARKET_USD] = price
    p[L.P_TDP_W] = tdp
    p[L.P_NIC_GBPS] = 400.0
    p[L.P_SERVER_USD], p[L.P_SCALEUP_USD] = 5_000, 3_000
    p[L.P_SCALEUP_MODULES], p[L.P_SCALEUP_MODULE_USD], p[L.P_SCALEUP_MODULE_W] = 2, 500, 10
    p[L.P_POWER_OVERHEAD] = 0.5
    if bom:
        p[L.P_BOM], p[L.P_PARTS_USD], p[L.P_HBM_GB], p[L.P_HBM_GEN], p[L.P_MARGIN] = 1, 2_000, 100, 3, 0.75
    return p


def _budget():
    b = np.zeros(L.B_FIELDS)
    b[L.B_HBM2:L.B_HBM4 + 1] = (10, 12, 15, 20, 25)
    b[L.B_AVG_POWER], b[L.B_IDLE_POWER] = 0.8, 0.2
    b[L.B_CLUSTER_CHIPS], b[L.B_NIC_LEAF_OPTICAL] = 8192, 1.0
    b[L.B_SWITCH_GBPS], b[L.B_SWITCH_USD], b[L.B_SWITCH_W] = 51_200, 150_000, 1_280
    b[L.B_MODULE_GBPS], b[L.B_MODULE_USD], b[L.B_MODULE_W] = 800, 1_000, 15
    b[L.B_USD_PER_KWH], b[L.B_PUE] = 0.10, 1.25
    b[L.B_FACILITY_USD_PER_W], b[L.B_FACILITY_LIFE_Y] = 10.0, 15
    b[L.B_CHIP_LIFE_Y], b[L.B_RATE], b[L.B_UPKEEP] = 5, 0.10, 0.2
    return b


def test_network_sizing_by_hand():
    # 8,192 chips, one 400 Gb/s NIC each, 51.2 Tb/s switches (64 x 800G), 800G twin-port modules:
    # radix at 400G = 51,200 / 400 = 128 ports; one switch holds 128 < 8,192 chips; two tiers hold
    # 2 x (128 / 2)^2 = 8,192: t = 2. Per chip: 2t - 1 = 3 switch ports (leaf down, leaf up, spine
    # down) and 3 / 128 = 0.0234375 switches: 8,192 x 3 / 128 = 192 switches = 128 leaves (64 chips
    # each) + 64 spines (8,192 uplinks / 128 ports). Modules: one 400G on the NIC + 3 switch ports x
    # 400 / 800 (a twin-port module serves two ports) = 1 + 1.5 = 2.5. Priced: switches 0.0234375 x
    # $150,000 = $3,515.625; modules as 2.0 800G-equivalents (the NIC's 400G module at half an 800G)
    # x $1,000 = $2,000; power 0.0234375 x 1,280 W = 30 W of switches + 2.0 x 15 W = 30 W of optics.
    tiers, switches, ports, modules, optics_usd, optics_w, sw_usd, sw_w = fat_tree_nb(
        400.0, 8192.0, 51_200.0, 150_000.0, 1_280.0, 800.0, 1_000.0, 15.0, 1.0)
    assert (tiers, ports, switches, modules) == (2, 3, 0.0234375, 2.5)
    assert switches * 8192 == 192
    assert (sw_usd, optics_usd, sw_w, optics_w) == (3515.625, 2000.0, 30.0, 30.0)
    # one chip more needs a third tier: 2 x 64^3 = 524,288 ports; 5 switch ports, 1 + 5 x 0.5 = 3.5 modules
    t3 = fat_tree_nb(400.0, 8193.0, 51_200.0, 150_000.0, 1_280.0, 800.0, 1_000.0, 15.0, 1.0)
    assert (t3[0], t3[2], t3[3]) == (3, 5, 3.5)
    # 800G NICs on the same switches: radix 64, 2 x 32^2 = 2,048 < 8,192 <= 2 x 32^3: t = 3, 5 ports,
    # 5 / 64 = 0.078125 switches per chip (a 1,024-GPU slice of such a fabric: 80 switches, 0.078 [S35
    # of central-2025]) and 1 + 5 x 1 = 6 modules: NVIDIA's "six transceivers per GPU"
    t800 = fat_tree_nb(800.0, 8192.0, 51_200.0, 150_000.0, 1_280.0, 800.0, 1_000.0, 15.0, 1.0)
    assert (t800[0], t800[2], t800[1], t800[3]) == (3, 5, 0.078125, 6.0)
    # copper NIC-to-leaf links: no module at the NIC or the leaf's down port: (3 - 1) x 0.5 = 1.0
    assert fat_tree_nb(400.0, 8192.0, 51_200.0, 150_000.0, 1_280.0, 800.0, 1_000.0, 15.0, 0.0)[3] == 1.0
    # no NIC, no fabric
    assert fat_tree_nb(0.0, 8192.0, 51_200.0, 150_000.0, 1_280.0, 800.0, 1_000.0, 15.0, 1.0)[3] == 0.0


def test_tco_by_hand():
    # chip $20,000, 1,000 W, 400 Gb/s NIC; platform: server $5,000, scale-up $3,000 + 2 modules x $500
    # (10 W each), +50 % system power; average draw 80 % of peak, idle 20 %.
    # Scale-out (test_network_sizing_by_hand): switches $3,515.625 + optics $2,000 = $5,515.625, 60 W.
    # CRF(10 %, 5 y) = 0.1 x 1.1^5 / (1.1^5 - 1) = 0.1610510 / 0.6105100 = 0.2637975
    # CRF(10 %, 15 y) = 0.1 x 1.1^15 / (1.1^15 - 1) = 0.4177248 / 3.1772482 = 0.1314738
    # chip 20,000 x 0.2637975 / 8,766 h = 0.601865 $/h; server 5,000 -> 0.150466; scale-up 4,000 -> 0.120373;
    #   network 5,515.625 -> 0.165983
    # fabric power: 60 W + 2 x 10 W = 80 W, drawn busy or idle; system 1,000 x 1.5 = 1,500 W
    # facility: $10/W x peak IT (1,500 + 80 = 1,580 W) x 0.1314738 / 8,766 = 0.236971 $/h
    # power: (1,500 x 0.8 + 80 = 1,280 W) x PUE 1.25 x $0.10/kWh = 0.160000 $/h; idle (1,500 x 0.2 + 80 = 380 W) 0.047500
    # upkeep: 0.2 x (0.601865 + 0.150466 + 0.120373 + 0.165983 + 0.236971) = 0.255132 $/h
    # total = 1.275658 + 0.160000 + 0.255132 = 1.690790 $/h
    out = np.zeros(L.CC_FIELDS)
    total = chip_hour_cost_nb(_chip(), _budget(), out)
    assert capital_recovery_factor_nb(0.10, 5.0) == pytest.approx(0.2637975, abs=1e-7)
    assert out[L.CC_CHIP] == pytest.approx(0.601865, abs=1e-6)
    assert out[L.CC_SERVER] == pytest.approx(0.150466, abs=1e-6)
    assert out[L.CC_SCALEUP] == pytest.approx(0.120373, abs=1e-6)
    assert out[L.CC_NETWORK] == pytest.approx(0.165983, abs=1e-6)
    assert out[L.CC_FACILITY] == pytest.approx(0.236971, abs=1e-6)
    assert out[L.CC_POWER] == pytest.approx(0.160000, abs=1e-9)
    assert out[L.CC_POWER_IDLE] == pytest.approx(0.047500, abs=1e-9)
    assert out[L.CC_UPKEEP] == pytest.approx(0.255132, abs=1e-6)
    assert total == pytest.approx(1.690790, abs=1e-6)
    assert out[L.CC_SITE_POWER_AVG_W] == pytest.approx(1_600.0)
    # optical modules: 2 scale-up + 2.5 scale-out; optics $ = (2 x 500 + 2,000) x 0.2637975 / 8,766 = 0.090280
    assert out[L.CC_MODULES] == pytest.approx(4.5)
    assert out[L.CC_OPTICS] == pytest.approx(0.090280, abs=1e-6)
    # BOM pricing: (2,000 parts + 100 GB x $20/GB HBM3E) / (1 - 0.75) = $16,000, HBM part $8,000
    # -> HBM 8,000 x 0.2637975 / 8,766 = 0.240746 $/h
    chip_hour_cost_nb(_chip(bom=True), _budget(), out)
    assert out[L.CC_CHIP_PRICE_USD] == pytest.approx(16_000.0)
    assert out[L.CC_HBM] == pytest.approx(0.240746, abs=1e-6)
    # a renter at $3.50 per chip-hour pays that and nothing else, busy or idle
    rented = _chip()
    rented[L.P_RENT_USD_H] = 3.5
    assert chip_hour_cost_nb(rented, _budget(), out) == 3.5
    assert out[L.CC_RENT] == 3.5 and out[L.CC_CHIP] == 0.0 and out[L.CC_POWER_IDLE] == 0.0


def test_cost_kernels_match_naive():
    for _ in range(300):
        p = _chip(price=RNG.uniform(1e3, 3e6), tdp=RNG.uniform(50, 25_000), bom=RNG.random() < 0.5)
        p[L.P_NIC_GBPS] = RNG.choice([0.0, 25.0, 100.0, 200.0, 400.0, 800.0, 1600.0])
        for f in (L.P_SERVER_USD, L.P_SCALEUP_USD, L.P_SCALEUP_MODULES, L.P_POWER_OVERHEAD):
            p[f] *= RNG.uniform(0, 3)
        p[L.P_RENT_USD_H] = RNG.uniform(0.5, 10) if RNG.random() < 0.2 else 0.0
        b = _budget() * RNG.uniform(0.5, 1.5, L.B_FIELDS)
        b[L.B_CLUSTER_CHIPS] = RNG.choice([8, 64, 1000, 8192, 8193, 65536, 2e5])
        b[L.B_MODULE_GBPS] = RNG.choice([400.0, 800.0, 1600.0])
        b[L.B_NIC_LEAF_OPTICAL] = RNG.uniform(0, 1)
        b[L.B_RATE] = RNG.uniform(0, 0.2)
        out = np.zeros(L.CC_FIELDS)
        chip_hour_cost_nb(p, b, out)
        twin = naive.chip_hour_cost(p, b)
        for i, name in enumerate(L.CC_NAMES):
            if name in twin:
                assert out[i] == pytest.approx(twin[name], rel=1e-12, abs=1e-12), name
        assert out[L.CC_SITE_POWER_PEAK_W] == pytest.approx(twin["site_power_peak_w"], rel=1e-12)
    for _ in range(300):
        low, high = sorted(RNG.uniform(0, 10, 2))
        mode = RNG.uniform(low, high)
        u = RNG.random()
        assert triangular_ppf_nb(u, low, mode, high) == pytest.approx(naive.triangular_ppf(u, low, mode, high),
                                                                     rel=1e-9, abs=1e-9)


def test_monte_carlo_kernel_matches_naive_per_sample():
    chips = np.stack([_chip(), _chip(bom=True)])
    ranges = np.stack([chips, chips, chips], axis=2)   # every field fixed ...
    ranges[0, L.P_MARKET_USD] = (15_000, 20_000, 30_000)     # ... but the price, margin and server
    ranges[1, L.P_MARGIN] = (0.6, 0.75, 0.85)
    ranges[:, L.P_SERVER_USD] = (3_000, 5_000, 9_000)
    b = _budget()
    br = np.stack([b * 0.8, b, b * 1.3], axis=1)
    n = 50
    u_b, u_c = RNG.random((n, L.B_FIELDS)), RNG.random((n, 2, L.P_FIELDS))
    out, out_power = np.zeros((n, 2)), np.zeros((n, 2, 2))
    monte_carlo_chip_hour_nb(chips, ranges, br, u_b, u_c, out, out_power)
    for s in range(n):
        budget = np.array([naive.triangular_ppf(u_b[s, k], *br[k]) for k in range(L.B_FIELDS)])
        for c in range(2):
            p = chips[c].copy()
            for j in range(L.P_FIELDS):
                if ranges[c, j, 2] > ranges[c, j, 0]:
                    p[j] = naive.triangular_ppf(u_c[s, c, j], *ranges[c, j])
            twin = naive.chip_hour_cost(p, budget)
            assert out[s, c] == pytest.approx(twin["total"], rel=1e-8)
            assert out_power[s, c, 1] == pytest.approx(twin["power_idle"], rel=1e-8)


def test_monte_carlo_p50_equals_central_for_symmetric_ranges(lib):
    # every input +-20 % around its central value: the median cost is within 2 % of the central case.
    # The topology stays fixed: the fat tree's tier count is a step in the cluster size and the radix
    # (2 tiers reach 8,192 chips with 400G NICs, one more chip needs 3), so a range across it is not
    # symmetric in cost.
    from dataclasses import replace

    from infersim.cost.inputs import budget_row, chip_cost_row
    from infersim.cost.tco import chip_hour_cost
    budget = _budget_spec(lib)
    central = budget_row(budget)
    sym = np.stack([central * 0.8, central, central * 1.2], axis=1)
    for k in (L.B_CLUSTER_CHIPS, L.B_SWITCH_GBPS, L.B_MODULE_GBPS, L.B_NIC_LEAF_OPTICAL):
        sym[k] = central[k]   # the topology's inputs (speeds set the radix), and a share that cannot pass 1
    chip = lib.chip("nvidia-h100-sxm")
    plat = lib.platform_of(chip)
    cr = chip_cost_row(chip, plat, "owner:market")
    row_sym = replace(cr, ranges=np.stack([cr.row * 0.8, cr.row, cr.row * 1.2], axis=1))
    row_sym.ranges[L.P_NIC_GBPS] = cr.row[L.P_NIC_GBPS]
    samples = monte_carlo_chip_hour([chip], [plat], budget, n_samples=20_000, seed=1, ranges=sym,
                                    rows=[row_sym]).total
    c = chip_hour_cost(chip, budget, "owner:market", plat).total_usd_per_hour
    assert np.median(samples[:, 0]) == pytest.approx(c, rel=0.02)
    p10, p90 = np.percentile(samples[:, 0], [10, 90])
    assert p10 < c < p90


def test_chips_on_one_platform_share_its_draws(lib):
    # H100 and H200 sit on the same HGX platform: in every sample their server costs are the same
    # draw, so the $/h difference between them moves only with their own prices
    from infersim.cost.inputs import chip_cost_row
    from infersim.cost.tco import shared_uniforms
    h100, h200 = lib.chip("nvidia-h100-sxm"), lib.chip("nvidia-h200-sxm")
    rows = [chip_cost_row(c, lib.platform_of(c), "owner") for c in (h100, h200)]
    u = shared_uniforms(rows, 500, np.random.default_rng(0))
    assert np.array_equal(u[:, 0, L.P_SERVER_USD], u[:, 1, L.P_SERVER_USD])
    assert not np.array_equal(u[:, 0, L.P_MARGIN], u[:, 1, L.P_MARGIN])


def _budget_spec(lib):
    ids = lib.ids("budget")
    assert "central-2025" in ids
    return lib.budget("central-2025")


@pytest.mark.parametrize("field", [L.B_USD_PER_KWH, L.B_PUE, L.B_SWITCH_USD, L.B_MODULE_USD, L.B_RATE,
                                   L.B_FACILITY_USD_PER_W, L.B_UPKEEP, L.B_HBM3E, L.B_CLUSTER_CHIPS, L.B_AVG_POWER])
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
    cost = ChipHourCost("x", 1, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 2.0, 20_000, 1_000.0, 1_250.0, 1_500.0, 0.1, 0.0, 0.0)
    t = token_cost(r, cost, Workload(1024, 256))
    assert t.usd_per_mtok == pytest.approx(16 / 14.4)
    assert t.usd_per_mtok_input == pytest.approx(16 * 0.25 / 57.6)
    assert t.usd_per_mtok_output_decode == pytest.approx(16 * 0.75 / 14.4)
    # 4,000 tok/s over 8 x 1,250 W = 10 kW = 0.01 MW -> 400,000 tok/s per MW
    assert t.tokens_per_s_per_mw == pytest.approx(400_000.0)


def test_tornado_orders_by_swing(lib):
    budget = _budget_spec(lib)
    chip = lib.chip("nvidia-h100-sxm")
    df = tornado([chip], [lib.platform_of(chip)], budget, lambda costs: costs[0], basis="owner:market")
    assert (df["swing"].diff().dropna() <= 1e-12).all()
    assert {"finance.cost_of_capital_per_year", "facility.electricity_usd_per_kwh",
            "nvidia-hgx-8gpu.scaleup_usd_per_chip", "nvidia-h100-sxm.market_price_usd"} <= set(df["input"])
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
