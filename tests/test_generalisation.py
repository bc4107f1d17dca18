"""Generalisation against the committed baseline: a whole family predicted from the other families'
fits (leave one family out) may not get worse; the fitted chip and family files must agree.
Leave-one-source-out needs refits and is gated by `benchmarks/accuracy/calibrate.py --gate` in CI."""

import json
from pathlib import Path

import numpy as np
import pytest

from infersim.accuracy.fit import FamilyFit, leave_one_family_out, summarise, usable_rows
from infersim.accuracy.predict import read_rows, run_validation

ACC = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy"
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def fitted(lib):
    fams = {f: lib.efficiency_family(f) for f in lib.ids("efficiency")}
    fits = {f: FamilyFit(f, dict(v.values), list(v.fitted_on), 0.0) for f, v in fams.items()}
    kinds = {f: v.kind for f, v in fams.items()}
    return fams, fits, kinds


@pytest.mark.jit_only
def test_leave_one_family_out_does_not_get_worse(lib, fitted):
    fams, fits, kinds = fitted
    df = read_rows(ACC / "calibration.csv").table
    plans: dict = {}
    run_validation(lib, df, plans)
    rows = usable_rows(df, plans)
    rows = rows[rows["family"].isin(list(fits))]
    lofo = leave_one_family_out(plans, rows, fits, kinds)
    base = {r["metric"]: r for r in json.loads((ACC / "baseline.json").read_text())["leave_one_family_out"]["by_metric"]}
    now = summarise(lofo, ["metric"]).set_index("metric")
    for metric, b in base.items():
        assert now.loc[metric, "median_ape"] <= b["median_ape"] + TOLERANCE, metric


def test_family_files_match_the_chip_files(lib, fitted):
    """Every chip of a fitted family carries that family's values, and lists its rows."""
    fams, _, _ = fitted
    from infersim.model.efficiency_prior import family_of

    every = list(fams.values())
    for cid in lib.ids("chip"):
        chip = lib.chip(cid)
        if chip.spatial is not None:      # its own spatial fit (benchmarks/accuracy/spatial_fit.py)
            continue
        fam = family_of(every, chip)
        if fam is None:
            assert "cross-family prior" in chip.efficiency.basis, cid
            continue
        eff = chip.efficiency.model_dump()
        for k, v in fam.values.items():
            assert eff[k] == pytest.approx(v, rel=5e-3, abs=1e-6), (cid, k)
        assert set(chip.efficiency.fitted_on) == set(fam.fitted_on), cid
        # the covariance is a covariance: symmetric, non-negative variances
        cov = np.array(fam.covariance_log)
        assert np.allclose(cov, cov.T) and (np.diag(cov) >= 0).all()
