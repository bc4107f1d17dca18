"""Fit a few physically meaningful efficiencies per hardware family on measured rows.

Per family: prefill compute, decode compute, memory bandwidth, interconnect (fractions of peak,
0 < x <= 1), the overlap loss (the share of the shorter of an operator's compute and memory times
not hidden under the longer; a family default of 0 keeps the pure roofline, unfitted) and fixed
per-step and per-prefill overheads (seconds). Objective: the sum over the family's rows of
(ln predicted - ln measured)^2, plus a weak pull (weight PRIOR_WEIGHT) toward the family default
so that a parameter the rows cannot see stays where it was. Method: coordinate descent with a
golden-section search per parameter in log space, a few sweeps. No per-row knobs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ..specs.chip import ChipSpec
from ..specs.library import Library
from .predict import Skip, family, predict, source_group

PARAMS = ("prefill_compute", "decode_compute", "memory_bandwidth", "interconnect", "step_overhead_s",
          "prefill_overhead_s", "overlap_loss")
FP4_PARAM = "fp4_compute_scale"   # fitted only for a family with FP4 rows
BOUNDS = {"prefill_compute": (0.05, 1.0), "decode_compute": (0.05, 1.0), "memory_bandwidth": (0.1, 1.0),
          "interconnect": (0.05, 1.0), "step_overhead_s": (1e-6, 0.05), "prefill_overhead_s": (1e-6, 0.2),
          "overlap_loss": (0.01, 1.0),
          FP4_PARAM: (0.2, 1.0)}
PRIOR_WEIGHT = 0.01   # per parameter, in (ln units)^2: small next to one row's squared log error
SWEEPS = 8
GOLDEN = (math.sqrt(5) - 1) / 2


def with_efficiency(chip: ChipSpec, params: dict[str, float]) -> ChipSpec:
    return chip.model_copy(update={"efficiency": chip.efficiency.model_copy(update=params)})


@dataclass
class FamilyFit:
    family: str
    params: dict[str, float]
    rows: list[str]
    loss: float
    fixed: tuple[str, ...] = ()   # parameters kept at their family default (not fitted)


def _loss(lib: Library, plans: dict, rows: pd.DataFrame, params: dict, prior: dict) -> float:
    total = 0.0
    chips: dict[str, ChipSpec] = {}
    for r in rows.itertuples(index=False):
        plan = plans[r.id]
        chip = chips.setdefault(r.hardware, with_efficiency(plan.chip, params))
        try:
            pred = predict(plan, chip)
        except Skip:
            total += 4.0  # a configuration that stops fitting is heavily penalised
            continue
        total += (math.log(pred) - math.log(r.value)) ** 2
    for k in (k for k in params if prior.get(k, 0.0) > 0.0):
        total += PRIOR_WEIGHT * (math.log(params[k]) - math.log(prior[k])) ** 2
    return total


def fit_family(lib: Library, plans: dict, rows: pd.DataFrame, prior: dict[str, float]) -> FamilyFit:
    """Fit PARAMS on `rows` (each with a Plan in `plans`), starting from and pulled to `prior`."""
    names = list(PARAMS) + ([FP4_PARAM] if (rows["weight_dtype"] == "fp4").any() else [])
    prior = {**prior, FP4_PARAM: prior.get(FP4_PARAM, 1.0)} if FP4_PARAM in names else prior
    # a default of exactly 0 (allowed for the overlap loss: the pure roofline) is kept, not fitted
    fixed = {k: 0.0 for k in names if prior.get(k) == 0.0}
    names = [k for k in names if k not in fixed]
    params = {k: prior[k] for k in names}
    best = _loss(lib, plans, rows, {**params, **fixed}, prior)
    for _ in range(SWEEPS):
        for k in names:
            lo, hi = (math.log(b) for b in BOUNDS[k])

            def f(x, k=k):
                return _loss(lib, plans, rows, {**params, **fixed, k: math.exp(x)}, prior)

            a, b = lo, hi
            c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
            fc, fd = f(c), f(d)
            for _ in range(30):
                if fc < fd:
                    b, d, fd = d, c, fc
                    c = b - GOLDEN * (b - a)
                    fc = f(c)
                else:
                    a, c, fc = c, d, fd
                    d = a + GOLDEN * (b - a)
                    fd = f(d)
            x = (a + b) / 2
            fx = f(x)
            if fx < best:
                best, params[k] = fx, math.exp(x)
    return FamilyFit(family(rows.iloc[0]["hardware"]), {**params, **fixed}, list(rows["id"]), best, tuple(fixed))


def usable_rows(df: pd.DataFrame, plans: dict) -> pd.DataFrame:
    """Rows with a plan (not skipped), with their family and source group."""
    ok = df[df["id"].map(lambda i: not isinstance(plans.get(i), (Skip, type(None))))].copy()
    ok["family"] = ok["hardware"].map(family)
    ok["source_group"] = ok["source"].astype(str).map(source_group)
    return ok


def fit_all(lib: Library, plans: dict, rows: pd.DataFrame, priors: dict[str, dict],
            progress: Callable[[str], None] | None = None) -> dict[str, FamilyFit]:
    fits = {}
    for fam, g in rows.groupby("family"):
        if fam not in priors:
            continue
        if progress:
            progress(fam)
        fits[fam] = fit_family(lib, plans, g, priors[fam])
    return fits


def leave_one_source_out(lib: Library, plans: dict, rows: pd.DataFrame, priors: dict[str, dict],
                         predicted_only: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fit on every source but one, predict the one left out; one record per held-out row.
    `predicted_only` rows (e.g. server rows) are never fitted but are predicted with their source."""
    out = []
    extra = predicted_only if predicted_only is not None else rows.iloc[:0]
    for held in sorted(rows["source_group"].unique()):
        train = rows[rows["source_group"] != held]
        test = pd.concat([rows[rows["source_group"] == held], extra[extra["source_group"] == held]])
        fits = fit_all(lib, plans, train, priors)
        for r in test.itertuples(index=False):
            params = fits[r.family].params if r.family in fits else priors.get(r.family)
            plan = plans[r.id]
            chip = with_efficiency(plan.chip, params) if params else plan.chip
            try:
                pred = predict(plan, chip)
            except Skip:
                continue
            out.append({"id": r.id, "held_out_source": held, "family": r.family, "metric": r.metric,
                        "trained_on_family_rows": r.family in fits, "predicted": pred, "measured": r.value,
                        "ape": abs(pred - r.value) / r.value})
    return pd.DataFrame(out)


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by)["ape"]
    return pd.DataFrame({"n": g.size(), "median_ape": g.median(), "p90_ape": g.quantile(0.9)}).reset_index()
