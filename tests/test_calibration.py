"""The fitting procedure recovers efficiencies it is given, and never leaves its bounds."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infersim.accuracy.fit import (
    BOUNDS, MIN_PRIOR_SD_LOG, PARAMS, cross_family_prior, fit_family, map_fit, with_efficiency,
)
from infersim.accuracy.predict import plan_row, predict, read_rows

ACC = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy"
PRIOR = {"prefill_compute": 0.7, "decode_compute": 0.5, "memory_bandwidth": 0.8, "interconnect": 0.75,
         "step_overhead_s": 3e-4, "prefill_overhead_s": 3e-4, "overlap_loss": 0.5}


@pytest.mark.jit_only
def test_fit_recovers_known_efficiencies_from_synthetic_measurements(lib):
    # Neuron rows: TTFT (prefill compute), TPOT (bandwidth + overhead) at several lengths and batches
    df = read_rows(ACC / "calibration.csv").table
    rows = df[df["hardware"].isin(["aws-inferentia2"]) & (df["mode"] == "fixed_batch")].copy()
    truth = {"prefill_compute": 0.45, "decode_compute": 0.5, "memory_bandwidth": 0.55, "interconnect": 0.4,
             "step_overhead_s": 2e-3, "prefill_overhead_s": 8e-3, "overlap_loss": 0.3}
    plans = {}
    for r in rows.to_dict("records"):
        plans[r["id"]] = plan_row(lib, r)
        r_chip = with_efficiency(plans[r["id"]].chip, truth)
        rows.loc[rows["id"] == r["id"], "value"] = predict(plans[r["id"]], r_chip)  # synthetic "measurement"
    fit = fit_family(lib, plans, rows, PRIOR)
    for k in PARAMS:
        lo, hi = BOUNDS[k]
        assert lo <= fit.params[k] <= hi
    # the parameters these rows constrain are recovered; the prior keeps the loss from being exactly 0
    # prefill compute trades against the prefill overhead along a flat valley (these rows have only two
    # prompt lengths), where the weak prior pulls it toward its default: recovered within 20 %
    assert fit.params["prefill_compute"] == pytest.approx(truth["prefill_compute"], rel=0.2)
    assert fit.params["memory_bandwidth"] == pytest.approx(truth["memory_bandwidth"], rel=0.1)
    assert fit.params["step_overhead_s"] == pytest.approx(truth["step_overhead_s"], rel=0.25)
    assert fit.params["prefill_overhead_s"] == pytest.approx(truth["prefill_overhead_s"], rel=0.35)
    errors = [abs(math.log(predict(plans[r.id], with_efficiency(plans[r.id].chip, fit.params)) / r.value))
              for r in rows.itertuples()]
    assert max(errors) < 0.05


def test_chip_files_record_what_their_efficiencies_were_fitted_on(lib):
    # a fitted chip lists its rows; every listed id exists in the data; a family default says so
    ids = set(pd.read_csv(ACC / "calibration.csv")["id"])
    for cid in lib.ids("chip"):
        eff = lib.chip(cid).efficiency
        if eff.fitted_on:
            assert set(eff.fitted_on) <= ids, cid
            assert "fitted on" in eff.basis, cid
        else:
            assert "default" in eff.basis or "assumption" in eff.basis or "cross-family prior" in eff.basis, cid


# --- the maximum-a-posteriori fit under the cross-family prior (infersim.accuracy.fit.map_fit) ---
# Rows see only parameter a: each row's residual is x_a - y (ln predicted - ln measured with predicted = a).
# Parameter b appears in no row. Priors: a ~ N(y + 1, 0.15^2), b ~ N(-2, 0.15^2) in ln units; rows have sd
# ROBUST_SCALE = 0.15, so one row and the prior weigh the same.
Y, MU, SD = -0.5, np.array([0.5, -2.0]), np.array([0.15, 0.15])
LO, HI = np.array([-5.0, -5.0]), np.array([2.0, 2.0])


def _rows_seeing_a(n):
    return lambda x: np.full(n, x[0] - Y)


def test_map_with_one_row_lands_halfway_and_the_prior_pins_the_unseen_parameter():
    x, res, cov = map_fit(_rows_seeing_a(1), 1, np.array([0.0, 0.0]), LO, HI, MU, SD, robust=False)
    # a: minimise (x - y)^2 / 0.15^2 + (x - (y + 1))^2 / 0.15^2  ->  x = y + 0.5 = 0.0
    assert x[0] == pytest.approx(0.0, abs=1e-4)
    # b: no row sees it, so the posterior is the prior: its centre, its sd
    assert x[1] == pytest.approx(-2.0, abs=1e-4)
    # posterior sd of a: 1 / sqrt(1/0.15^2 + 1/0.15^2) = 0.15 / sqrt 2 = 0.10607 (one row: s = ROBUST_SCALE)
    assert math.sqrt(cov[0, 0]) == pytest.approx(0.15 / math.sqrt(2), rel=1e-3)
    assert math.sqrt(cov[1, 1]) == pytest.approx(0.15, rel=1e-6)
    assert res == pytest.approx([0.5], abs=1e-4)


def test_map_with_many_rows_the_data_win():
    # 99 rows: x = (99 y + (y + 1)) / 100 = y + 0.01 = -0.49; b still at its prior
    x, _, _ = map_fit(_rows_seeing_a(99), 99, np.array([0.0, 0.0]), LO, HI, MU, SD, robust=False)
    assert x[0] == pytest.approx(-0.49, abs=1e-4)
    assert x[1] == pytest.approx(-2.0, abs=1e-4)


def test_map_with_the_robust_loss_shrinks_few_rows_more_than_many():
    # soft_l1 on the rows (a residual of 0.5 counts less than quadratically): the one-row answer lies between the
    # row and the prior, nearer the prior than the quadratic halfway point; 99 rows stay within 0.02 of the rows
    one, _, _ = map_fit(_rows_seeing_a(1), 1, np.array([0.0, 0.0]), LO, HI, MU, SD)
    many, _, _ = map_fit(_rows_seeing_a(99), 99, np.array([0.0, 0.0]), LO, HI, MU, SD)
    assert 0.0 < one[0] < 0.5
    assert abs(many[0] - Y) < 0.02


def test_cross_family_prior_leaves_the_family_out_and_uses_its_kind():
    values = {"A": {"memory_bandwidth": 0.4, "overlap_loss": 0.0}, "B": {"memory_bandwidth": 0.8, "overlap_loss": 0.5},
              "C": {"memory_bandwidth": 0.5, "overlap_loss": 0.6}, "D": {"memory_bandwidth": 0.2, "overlap_loss": 0.7},
              "X": {"memory_bandwidth": 0.9, "overlap_loss": 0.5}}
    fixed = {"A": ("overlap_loss",)}
    kinds = {"A": "accelerator", "B": "accelerator", "C": "accelerator", "D": "accelerator", "X": "cpu"}
    p = cross_family_prior(values, fixed, kinds, "D")
    # memory bandwidth of A, B, C (not D itself, not the CPU X): median 0.5; sd of ln(0.4, 0.8, 0.5), ddof 1
    assert p.centre["memory_bandwidth"] == pytest.approx(0.5)
    assert p.sd_log["memory_bandwidth"] == pytest.approx(float(np.std(np.log([0.4, 0.8, 0.5]), ddof=1)))
    assert p.families["memory_bandwidth"] == ("A", "B", "C")
    # overlap loss: A kept it at its default (not fitted), so B and C: centre exp(mean ln) = sqrt(0.3)
    assert p.centre["overlap_loss"] == pytest.approx(math.sqrt(0.5 * 0.6))
    assert p.families["overlap_loss"] == ("B", "C")
    # the only CPU family has no peers: no cross-family prior (its parameters keep the weak default pull)
    assert cross_family_prior(values, fixed, kinds, "X").centre == {}
    # two families agreeing exactly: the sd is floored (families are not taken to agree better than chips do)
    same = {"A": {"interconnect": 0.5}, "B": {"interconnect": 0.5}, "C": {"interconnect": 0.9}}
    assert cross_family_prior(same, {}, {}, "C").sd_log["interconnect"] == MIN_PRIOR_SD_LOG


def test_family_files_record_their_map_prior(lib):
    # every accelerator family's fit is MAP with a prior from other families; the centre and sd are recomputable
    # from the other families' recorded unpooled values
    fams = {f: lib.efficiency_family(f) for f in lib.ids("efficiency")}
    for fam in fams.values():
        if fam.kind != "accelerator":
            continue
        assert fam.prior is not None, fam.id
        for k, peers in fam.prior.families.items():
            assert fam.id not in peers and len(peers) >= 2, (fam.id, k)
            logs = np.log([fams[p].prior.unpooled[k] for p in peers])
            assert fam.prior.centre[k] == pytest.approx(math.exp(np.median(logs)), rel=2e-3), (fam.id, k)
            assert fam.prior.sd_log[k] == pytest.approx(max(np.std(logs, ddof=1), MIN_PRIOR_SD_LOG), abs=2e-3)
