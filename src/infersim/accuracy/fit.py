"""Fit a few physically meaningful efficiencies per hardware family on measured rows.

Per family: prefill compute, decode compute, memory bandwidth, interconnect (fractions of peak,
0 < x <= 1), the overlap loss (the share of the shorter of an operator's compute and memory times
not hidden under the longer; a family default of 0 keeps the pure roofline, unfitted) and fixed
per-step and per-prefill overheads (seconds); an FP4 scale where the family has FP4 rows.

Method: scipy.optimize.least_squares (trust-region reflective, bounds) on the log of the
parameters. Residuals: ln predicted - ln measured per row (a row that stops fitting its chips counts
RESIDUAL_IF_SKIPPED), and a weak pull sqrt(PRIOR_WEIGHT) (ln x - ln default) per parameter toward the
family default, so that a parameter the rows cannot see stays where it was. Robust loss: soft_l1
with a scale of ROBUST_SCALE (a 15 % error), so a few rows far off (another software stack, a
source's own caveat) do not pull a family's fit. The parameters' uncertainty is the Gauss-Newton
covariance at the solution, s^2 (J^T J)^-1 in ln units. No per-row knobs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

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
RESIDUAL_IF_SKIPPED = 2.0   # ln-units residual of a row whose configuration stops fitting (squared: 4)
ROBUST_SCALE = 0.15         # soft_l1 scale: residuals beyond ~15 % count less than quadratically
MIN_DOF = 5                 # rows beyond the parameters needed to estimate the error scale from the rows


def with_efficiency(chip: ChipSpec, params: dict[str, float]) -> ChipSpec:
    return chip.model_copy(update={"efficiency": chip.efficiency.model_copy(update=params)})


@dataclass
class FamilyFit:
    family: str
    params: dict[str, float]
    rows: list[str]
    loss: float
    fixed: tuple[str, ...] = ()   # parameters kept at their family default (not fitted)
    sd_log: dict[str, float] = field(default_factory=dict)   # fit uncertainty per parameter, ln units
    cov_log: np.ndarray | None = None   # covariance of ln(parameters) over the fitted ones (sd_log's order)


def _residuals(plans: dict, rows: pd.DataFrame, params: dict) -> np.ndarray:
    """ln predicted - ln measured per row, with `params` on every row's chip."""
    out = np.empty(len(rows))
    chips: dict[str, ChipSpec] = {}
    for i, r in enumerate(rows.itertuples(index=False)):
        plan = plans[r.id]
        chip = chips.setdefault(r.hardware, with_efficiency(plan.chip, params))
        try:
            out[i] = math.log(predict(plan, chip)) - math.log(r.value)
        except Skip:
            out[i] = RESIDUAL_IF_SKIPPED
    return out


def _loss(lib: Library, plans: dict, rows: pd.DataFrame, params: dict, prior: dict) -> float:
    """Sum of squared log errors plus the prior pull (the quantity reported as a fit's loss)."""
    total = float(np.sum(_residuals(plans, rows, params) ** 2))
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
    lo = np.array([math.log(BOUNDS[k][0]) for k in names])
    hi = np.array([math.log(BOUNDS[k][1]) for k in names])
    centre = np.array([math.log(prior[k]) for k in names])
    x0 = np.clip(centre, lo + 1e-9, hi - 1e-9)
    pull = math.sqrt(PRIOR_WEIGHT)

    def params_of(x: np.ndarray) -> dict[str, float]:
        return {**{k: math.exp(v) for k, v in zip(names, x)}, **fixed}

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.concatenate([_residuals(plans, rows, params_of(x)), pull * (x - centre)])

    sol = least_squares(residuals, x0, bounds=(lo, hi), method="trf", loss="soft_l1", f_scale=ROBUST_SCALE,
                        x_scale=1.0, diff_step=1e-3, xtol=1e-6, ftol=1e-8, max_nfev=60)
    params = params_of(sol.x)
    # Gauss-Newton covariance in ln units: s^2 (J^T J)^-1, s^2 from the rows' residuals
    # s^2 from the rows' residuals when they outnumber the parameters by MIN_DOF, else the robust scale
    n_rows = len(rows)
    j = sol.jac
    dof = n_rows - len(names)
    s2 = float(np.sum(sol.fun[:n_rows] ** 2)) / dof if dof >= MIN_DOF else ROBUST_SCALE ** 2
    cov = s2 * np.linalg.pinv(j.T @ j)
    # pinv's rounding leaves a parameter at its bound (a zero Jacobian column) a variance of -1e-30
    # and the matrix asymmetric at 1e-16: a covariance is symmetric with variances >= 0
    cov = 0.5 * (cov + cov.T)
    np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
    sd = {k: float(math.sqrt(max(cov[i, i], 0.0))) for i, k in enumerate(names)}
    return FamilyFit(family(rows.iloc[0]["hardware"]), params, list(rows["id"]),
                     _loss(lib, plans, rows, params, prior), tuple(fixed), sd, cov)


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


def prior_centre(fits: dict[str, FamilyFit], kinds: dict[str, str], kind: str,
                 exclude: str | None = None) -> dict[str, float] | None:
    """The centre of the cross-family prior: per parameter, the median of the fitted families of
    `kind` (accelerator or CPU; all families when none is of that kind), leaving out `exclude`."""
    peers = [f for name, f in fits.items() if name != exclude and kinds.get(name) == kind] or \
        [f for name, f in fits.items() if name != exclude]
    if not peers:
        return None
    keys = sorted({k for f in peers for k in f.params})
    return {k: float(np.median([f.params[k] for f in peers if k in f.params])) for k in keys}


def _predict_with(plans: dict, r, params: dict | None):
    plan = plans[r.id]
    chip = with_efficiency(plan.chip, params) if params else plan.chip
    try:
        return predict(plan, chip)
    except Skip:
        return None


def leave_one_source_out(lib: Library, plans: dict, rows: pd.DataFrame, priors: dict[str, dict],
                         predicted_only: pd.DataFrame | None = None, kinds: dict[str, str] | None = None,
                         fits: dict[str, FamilyFit] | None = None,
                         progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Fit on every source but one, predict the one left out; one record per held-out row.
    `predicted_only` rows (server rows, families not fitted) are never fitted but are predicted with
    their source. Only the families the held-out source has rows in are refitted (the others keep
    `fits`, the full fit); a family left with no rows is predicted from the cross-family prior of
    the other families (`kinds`: family -> 'accelerator' or 'cpu')."""
    kinds = kinds or {}
    fits = fits if fits is not None else fit_all(lib, plans, rows, priors)
    out = []
    extra = predicted_only if predicted_only is not None else rows.iloc[:0]
    for held in sorted(set(rows["source_group"]) | set(extra["source_group"])):
        if progress:
            progress(held)
        train = rows[rows["source_group"] != held]
        touched = set(rows[rows["source_group"] == held]["family"])
        refit = fit_all(lib, plans, train[train["family"].isin(touched)], priors)
        now = {f: v for f, v in fits.items() if f not in touched} | refit
        test = pd.concat([rows[rows["source_group"] == held], extra[extra["source_group"] == held]])
        for r in test.itertuples(index=False):
            if r.family in now:
                params, basis = now[r.family].params, "family fit"
            else:
                params = prior_centre(now, kinds, kinds.get(r.family, "accelerator"), exclude=r.family)
                basis = "cross-family prior"
            pred = _predict_with(plans, r, params)
            if pred is None:
                continue
            out.append({"id": r.id, "held_out_source": held, "family": r.family, "metric": r.metric,
                        "mode": r.mode, "basis": basis, "predicted": pred, "measured": r.value,
                        "ape": abs(pred - r.value) / r.value})
    return pd.DataFrame(out)


def leave_one_family_out(plans: dict, rows: pd.DataFrame, fits: dict[str, FamilyFit],
                         kinds: dict[str, str]) -> pd.DataFrame:
    """Each fitted family's rows predicted from the cross-family prior of the other families (the
    median of their fits): how a chip with no measurements of its family fares."""
    out = []
    for fam in sorted(fits):
        centre = prior_centre(fits, kinds, kinds.get(fam, "accelerator"), exclude=fam)
        if centre is None:
            continue
        for r in rows[rows["family"] == fam].itertuples(index=False):
            pred = _predict_with(plans, r, centre)
            if pred is None:
                continue
            out.append({"id": r.id, "held_out_family": fam, "family": fam, "metric": r.metric, "mode": r.mode,
                        "predicted": pred, "measured": r.value, "ape": abs(pred - r.value) / r.value})
    return pd.DataFrame(out)


def chip_spread(plans: dict, rows: pd.DataFrame, fits: dict[str, FamilyFit], min_rows: int = 3) -> float:
    """The sd (ln units) of a chip's bias about its family fit: per chip with at least `min_rows`
    fitted rows, the median of ln(predicted / measured) under the family fit; the sd over chips of
    every family (pooled). What a chip without rows of its own may differ by."""
    bias = []
    for (fam, chip), g in rows[rows["family"].isin(list(fits))].groupby(["family", "hardware"]):
        if len(g) < min_rows:
            continue
        bias.append(float(np.median(_residuals(plans, g, fits[fam].params))))
    return float(np.std(bias, ddof=1)) if len(bias) >= 2 else 0.0


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by)["ape"]
    return pd.DataFrame({"n": g.size(), "median_ape": g.median(), "p90_ape": g.quantile(0.9)}).reset_index()
