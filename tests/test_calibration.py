"""The fitting procedure recovers efficiencies it is given, and never leaves its bounds."""

import math
from pathlib import Path

import pandas as pd
import pytest

from infersim.accuracy.fit import BOUNDS, PARAMS, fit_family, with_efficiency
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
