"""Scenario runners, each on a few chips: the numbers they report obey the relations they claim."""

import math

import numpy as np
import pytest

from infersim.cli import main
from infersim.cost.inputs import chip_cost_row
from infersim.cost.tco import chip_hour_cost
from infersim.kernels import layout as L
from infersim.analysis.scenarios.latency_cost import _pareto
from infersim.analysis.scenarios import run_scenario


def _spec(lib, sid, **update):
    return lib.scenario(sid).model_copy(update=update)


def test_pairwise_advantage(lib):
    spec = _spec(lib, "asic-tco-advantage", chips=["google-tpu-v7", "google-tpu-v6e"],
                 baseline_chips=["nvidia-h100-sxm", "nvidia-b200"], samples=2000,
                 views=["owner", "rental:gcp:3yr"], load_profiles=["flat", "azure-conversation-2024"],
                 efficiency_variants=["own"], efficiency_uncertainty=False)
    r = run_scenario(lib, spec)
    h = r.tables["advantage"]
    assert np.allclose(h["advantage_central"], 1 - h["asic_usd_per_mtok"] / h["gpu_usd_per_mtok"])
    assert (h["advantage_p10"] <= h["advantage_p50"]).all() and (h["advantage_p50"] <= h["advantage_p90"]).all()
    assert h["prob_in_40_65"].between(0, 1).all()
    owner = h[h["view"] == "owner"]
    assert len(owner) == 8   # 2 ASICs x 2 GPUs x 2 profiles, every chip has an owner's price
    # a renter pays the list price per chip-hour: TPU v6e $1.22 and H100 $4.86 on GCP 3-year terms
    # (newest listing), so under a flat load the advantage is 1 - 1.22 x f_v6e / (4.86 x f_h100),
    # f = chips per M tokens/h of each deployment
    deps = r.tables["deployments"].set_index("chip")
    f = {c: deps.loc[c, "num_chips"] / (deps.loc[c, "system_tokens_per_s"] * 3600) * 1e6 for c in deps.index}
    rent = h[(h["view"] == "rental:gcp:3yr") & (h["load_profile"] == "flat")].set_index("asic")
    assert rent.loc["google-tpu-v6e", "advantage_central"] == pytest.approx(
        1 - 1.22 * f["google-tpu-v6e"] / (4.86 * f["nvidia-h100-sxm"]), rel=1e-9)
    # TPU v7 and B200 have no GCP 3-year price: listed, not answered
    missing = r.tables["not_answered"]
    assert ((missing["view"] == "rental:gcp:3yr") & (missing["asic"] == "google-tpu-v7")).any()
    # the headline carries one column per load profile
    assert {"prob_in_40_65_flat", "prob_in_40_65_azure-conversation-2024"} <= set(r.headline.columns)
    drivers = r.tables["drivers"]
    # the GPU's gross margin is among the inputs, and a higher GPU margin never lowers the ASIC's advantage
    m = drivers[drivers["input"] == "nvidia-h100-sxm.gross_margin"].iloc[0]
    assert m["advantage_at_high"] >= m["advantage_at_low"]
    # the summary is the answer: where the range holds for owners and renters, and what is not answered
    assert "Owners, flat load, own efficiencies: more likely than not inside 40%-65%" in r.summary
    assert "Renters, rental:gcp:3yr" in r.summary
    assert "google-tpu-v7, nvidia-b200: no rental price in any renter's view" in r.summary


def test_elasticity_decode_bandwidth_prefill_compute(lib):
    r = run_scenario(lib, _spec(lib, "decode-bandwidth-bottleneck", chips=["nvidia-h100-sxm", "nvidia-h200-sxm"]))
    h = r.headline.set_index("chip")
    for chip in ("nvidia-h100-sxm", "nvidia-h200-sxm"):
        assert -1.05 <= h.loc[chip, "elasticity_tpot_to_bandwidth"] <= -0.85
        assert abs(h.loc[chip, "elasticity_tpot_to_flops"]) < 0.05
        # prefill: FLOP/s carries at least 85 % of the TTFT's sensitivity; the rest is the weight read
        # the fitted overlap loss leaves exposed (t = max + loss x min, so the two sum to -1)
        assert h.loc[chip, "elasticity_ttft_to_flops"] < -0.85
        assert -0.15 < h.loc[chip, "elasticity_ttft_to_bandwidth"] <= 0.0
        b = h.loc[chip, "decode_compute_bound_from_batch"]
        assert math.isnan(b) or b >= 1
    # same compute, 1.43x the bandwidth: the memory term is shorter, so compute overtakes it at a
    # smaller batch. Crossover B* solves B x 2P/peak = (W + B x KV)/bw: B* = W / (bw x 2P/peak - KV),
    # which falls as bw grows; where bw x 2P/peak <= KV (the KV read of a sequence takes as long as
    # its math) decode never turns compute bound: NaN, read as an infinite batch.
    b100, b200 = (h.loc[c, "decode_compute_bound_from_batch"] for c in ("nvidia-h100-sxm", "nvidia-h200-sxm"))
    # more bandwidth never delays the crossover: H200 never compute bound implies H100 never either
    assert math.isnan(b100) if math.isnan(b200) else (math.isnan(b100) or b200 < b100)
    assert h.loc["nvidia-h200-sxm", "ridge_flop_per_byte"] < h.loc["nvidia-h100-sxm", "ridge_flop_per_byte"]


def test_budget_shock_passes_hbm_through_as_a_range(lib):
    spec = _spec(lib, "hbm-price-shock", chips=["nvidia-b200", "nvidia-h100-sxm", "nvidia-gb300"])
    h = run_scenario(lib, spec).headline.set_index("chip")
    base, alt = lib.budget("central-2025"), lib.budget("hbm-2026")
    # B200: 180 GB of HBM3E; the seller's HBM bill moves by GB x ($/GB change): at cost the price rises by
    # that, marked up by it / (1 - margin)
    b200 = lib.chip("nvidia-b200")
    row = chip_cost_row(b200, lib.platform_of(b200)).row
    delta = row[L.P_HBM_GB] * (alt.hbm.hbm3e_usd_per_gb.central - base.hbm.hbm3e_usd_per_gb.central)
    price = h.loc["nvidia-b200", "chip_price_usd"]
    assert h.loc["nvidia-b200", "chip_price_change_at_cost"] * price == pytest.approx(delta)
    assert h.loc["nvidia-b200", "chip_price_change_marked_up"] * price == pytest.approx(delta / (1 - row[L.P_MARGIN]))
    b = h.loc["nvidia-b200"]
    assert 0 < b["usd_per_mtok_change_at_cost"] < b["usd_per_mtok_change_marked_up"] < b["chip_price_change_marked_up"]
    # GB300 is priced at market: its HBM3E moves it at cost; its spec has no margin to mark up by
    assert h.loc["nvidia-gb300", "chip_price_change_at_cost"] > 0
    assert math.isnan(h.loc["nvidia-gb300", "chip_price_change_marked_up"])
    if alt.hbm.hbm3_usd_per_gb == base.hbm.hbm3_usd_per_gb:
        assert h.loc["nvidia-h100-sxm", "chip_price_change_at_cost"] == 0  # HBM3 did not move


def test_power_limited_site_stays_within_power(lib):
    spec = _spec(lib, "power-limited-site", chips=["nvidia-h100-sxm", "google-tpu-v7"], site_power_mw=10)
    h = run_scenario(lib, spec).headline.set_index("chip")
    budget = lib.budget("central-2025")
    for chip in h.index:
        peak = chip_hour_cost(lib.chip(chip), budget, "owner", lib.platform_of(lib.chip(chip))).site_power_peak_w
        assert h.loc[chip, "chips_at_site"] * peak <= 10e6
        # one more deployment would not fit
        per_dep = h.loc[chip, "chips_at_site"] / h.loc[chip, "deployments"]
        assert (h.loc[chip, "chips_at_site"] + per_dep) * peak > 10e6


def test_latency_vs_cost_frontier(lib):
    spec = _spec(lib, "lpu-latency-vs-cost", chips=["nvidia-h100-sxm", "google-tpu-v7"])
    r = run_scenario(lib, spec)
    pts, front = r.tables["points"], r.tables["frontier"]
    for _, p in pts.iterrows():  # no frontier point is beaten on both axes by any point
        for _, f in front.iterrows():
            assert not (p["user_tokens_per_s"] > f["user_tokens_per_s"] and p["usd_per_mtok"] < f["usd_per_mtok"])
    for (_, _), g in pts.groupby(["chip", "mapping"]):
        g = g.sort_values("batch")
        assert g["user_tokens_per_s"].is_monotonic_decreasing  # a bigger batch is slower per user


def test_pareto_by_hand():
    import pandas as pd
    pts = pd.DataFrame({"user_tokens_per_s": [10, 20, 30, 25], "usd_per_mtok": [1.0, 2.0, 3.0, 4.0]})
    # (25, 4.0) is beaten by (30, 3.0); the other three trade speed for cost
    assert sorted(_pareto(pts)["user_tokens_per_s"]) == [10, 20, 30]


def test_request_rate_cost_falls_until_capacity(lib):
    spec = _spec(lib, "cpu-only", chips=["intel-xeon-6980p", "nvidia-h100-sxm"], request_rates_per_s=[0.1, 1.0, 10.0])
    r = run_scenario(lib, spec)
    pts = r.tables["points"]
    for _, g in pts.groupby("chip"):
        one = g[g["deployments"] == 1]
        # with one deployment the hourly cost is fixed: $/M tokens x rate is constant
        prod = one["usd_per_mtok"] * one["request_rate_per_s"]
        assert np.allclose(prod, prod.iloc[0])
    assert set(r.headline.columns) >= {"best_cpu", "best_gpu"}


def test_scenario_cli_writes_tables_and_figures(capsys, tmp_path):
    code = main(["scenario", "run", "hbm-price-shock", "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "HBM" in out
    assert (tmp_path / "headline.csv").exists() and (tmp_path / "usd_per_mtok_change.png").exists()
    assert "upper bound" in out   # the marked-up pass-through is called what it is
    assert (tmp_path / "summary.txt").read_text().strip()


def test_scenario_needs_its_kind_fields(tmp_path, capsys):
    bad = tmp_path / "my-shock.toml"
    text = open(lib_path("hbm-price-shock")).read().replace('id = "hbm-price-shock"', 'id = "my-shock"')
    bad.write_text(text.replace('alt_budget = "hbm-2026"\n', ""))
    code = main(["scenario", "run", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "needs 'alt_budget'" in err


def lib_path(sid):
    from pathlib import Path
    return Path(__file__).resolve().parents[1] / "workloads" / "scenarios" / f"{sid}.toml"


@pytest.mark.jit_only
def test_efficiency_like_changes_only_the_efficiencies(lib):
    base = _spec(lib, "asic-tco-advantage", chips=["google-tpu-v7"], baseline_chips=["nvidia-h200-sxm"], samples=500,
                 views=["owner"], load_profiles=["flat"], efficiency_variants=[])
    same = base.model_copy(update={"efficiency_like": "nvidia-h200-sxm"})
    a, b = (run_scenario(lib, s).tables["deployments"].set_index("chip") for s in (base, same))
    # the GPU already runs at its own efficiencies: unchanged; the TPU now runs at the GPU's
    assert a.loc["nvidia-h200-sxm", "usd_per_mtok"] == pytest.approx(b.loc["nvidia-h200-sxm", "usd_per_mtok"])
    assert a.loc["google-tpu-v7", "usd_per_mtok"] != pytest.approx(b.loc["google-tpu-v7", "usd_per_mtok"])
    assert a.loc["google-tpu-v7", "chip_price_usd"] == b.loc["google-tpu-v7", "chip_price_usd"]  # cost untouched


def test_rates_phrase_and_percent_columns():
    import pandas as pd

    from infersim.report.tables import frame_table
    from infersim.analysis.scenarios.request_rate import _rates_phrase
    assert _rates_phrase([0.1, 1.0], [0.1, 1.0, 10.0]) == "up to 1 requests/s"
    assert _rates_phrase([10.0], [0.1, 1.0, 10.0]) == "only at 10 requests/s"
    assert _rates_phrase([], [1.0]) == "at no rate tried"
    text = frame_table(pd.DataFrame({"cheapest_usd_per_mtok": [0.25], "usd_per_mtok_change": [0.25]}))
    assert "0.25" in text and "25.0%" in text  # 'cheapest' holds 'ape' but is not a fraction


def test_tiered_serving_meets_each_class_target_and_host_kv_saves_chips(lib):
    r = run_scenario(lib, lib.scenario("tiered-serving"))
    h = r.headline.set_index("class")
    assert (h["ttft_p99_s"] <= h["ttft_target_s"] + 1e-9).all() and (h["tpot_p99_s"] <= h["tpot_target_s"] + 1e-9).all()
    # the same agents at the same rate: loading the prefix KV from host memory beats prefilling it again
    assert h.loc["agents-host-kv", "chips"] < h.loc["agents-no-host-kv", "chips"]
    assert "host" in h.loc["agents-host-kv", "kv_tier"] and "prefilled again" in h.loc["agents-no-host-kv", "kv_tier"]
    # $/M tokens = $/hour / (rate x output tokens x 3600) x 1e6, class by class
    for name, row in h.iterrows():
        out = lib.traffic(lib.scenario("tiered-serving").classes[list(h.index).index(name)].traffic).output.mean_tokens
        assert row["usd_per_mtok"] == pytest.approx(row["usd_per_hour"] / (row["rate_per_s"] * out * 3600) * 1e6)


@pytest.mark.jit_only
def test_pairwise_advantage_draws_efficiencies_from_their_priors(lib):
    """With the efficiency priors in the Monte Carlo, a chip of a family fitted on other chips (TPU v7)
    has a wider $/M-token band than with the budget's ranges alone, the table says where each chip's
    efficiencies come from, and the tornado lists them as inputs."""
    base = dict(chips=["google-tpu-v7"], baseline_chips=["nvidia-h100-sxm"], samples=2000, views=["owner"],
                load_profiles=["flat"], efficiency_variants=["own"])
    fixed = run_scenario(lib, _spec(lib, "asic-tco-advantage", efficiency_uncertainty=False, **base))
    drawn = run_scenario(lib, _spec(lib, "asic-tco-advantage", **base))
    a, b = fixed.tables["advantage"].iloc[0], drawn.tables["advantage"].iloc[0]
    assert b["advantage_p90"] - b["advantage_p10"] > a["advantage_p90"] - a["advantage_p10"]
    assert (b["asic_efficiency_source"], b["gpu_efficiency_source"]) == ("family fit", "own rows")
    assert a["advantage_central"] == pytest.approx(b["advantage_central"])
    inputs = set(drawn.tables["drivers"]["input"])
    assert "google-tpu-v7.efficiency (prior P10-P90 of cost)" in inputs
