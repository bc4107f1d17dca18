"""Fit a few physically meaningful efficiencies per hardware family on measured rows.

Per family: prefill compute, decode compute, memory bandwidth, interconnect (fractions of peak,
0 < x <= 1), the overlap loss (the share of the shorter of an operator's compute and memory times
not hidden under the longer; a family default of 0 keeps the pure roofline, unfitted) and fixed
per-step and per-prefill overheads (seconds); an FP4 scale where the family has FP4 rows.

Method: a maximum-a-posteriori fit by scipy.optimize.least_squares (trust-region reflective, bounds)
on the log of the parameters, in two stages.

1. Unpooled: each family alone. Residuals: ln predicted - ln measured per row (a row that stops
   fitting its chips counts RESIDUAL_IF_SKIPPED), under a robust loss (soft_l1 with a scale of
   ROBUST_SCALE, a 15 % error, so a few rows far off do not pull a family's fit), and a weak Gaussian
   pull toward the family default (sd DEFAULT_SD_LOG ln units), so that a parameter the rows cannot
   see stays where it was.
2. MAP with the cross-family prior: each family refitted with, per parameter, a Gaussian prior in ln
   units centred on the median of the other families' stage-1 fits (families of the same kind,
   accelerator or CPU, that fitted the parameter: leave-this-family-out, so a family does not shrink
   toward itself) with their sd across families (at least MIN_PRIOR_SD_LOG) as its spread, for the
   SHARED parameters (not the overheads, which belong to a serving stack). A parameter with fewer
   than two such families, or an overhead, keeps the weak pull to its default. The prior enters
   as one residual per parameter, ROBUST_SCALE (ln x - ln centre) / sd: a row's error scale over
   the prior's, so the objective is the negative log-posterior with rows of sd ROBUST_SCALE. Many
   rows outweigh it (the data win); a parameter the rows hardly see is pinned by it.

The parameters' uncertainty is the posterior covariance at the solution (Laplace): the inverse of
J_rows^T J_rows / s^2 + diag(1 / sd_prior^2), ln units, with s^2 the rows' mean squared residual
(ROBUST_SCALE^2 when they are too few to estimate it). No per-row knobs.
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
DEFAULT_SD_LOG = 1.5   # sd (ln units) of the weak pull toward the family default: ~ a factor of 4.5
# what families share, so the cross-family prior covers it: the fractions of peak, the overlap loss and the FP4
# scale. The per-step and per-prefill overheads (seconds) belong to a serving stack (TensorRT-LLM, vLLM-Neuron,
# JetStream), not to hardware: another family's stack says nothing about them, so they keep the weak default pull
# (a cross-family pull of 2-4 ms moved nvidia's 0.4 ms step overhead to 8.8 ms along a valley its rows leave open)
SHARED = ("prefill_compute", "decode_compute", "memory_bandwidth", "interconnect", "overlap_loss", "fp4_compute_scale")
LN_STEP = 1e-3           # finite-difference step in ln units (a 0.1 % change of a value)
MIN_PRIOR_SD_LOG = 0.1   # assumption: families are not taken to agree more closely than a chip with its
                         # family does (the chip spread, ~0.10 ln): the floor of a cross-family prior's sd
RESIDUAL_IF_SKIPPED = 2.0   # ln-units residual of a row whose configuration stops fitting (squared: 4)
ROBUST_SCALE = 0.15         # soft_l1 scale: residuals beyond ~15 % count less than quadratically
MIN_DOF = 5                 # rows beyond the parameters needed to estimate the error scale from the rows


def with_efficiency(chip: ChipSpec, params: dict[str, float]) -> ChipSpec:
    return chip.model_copy(update={"efficiency": chip.efficiency.model_copy(update=params)})


@dataclass(frozen=True)
class CrossFamilyPrior:
    """The prior of one family's MAP fit: per parameter, a centre (the median of the other families'
    unpooled fits) and an sd in ln units (their spread), and the families each came from."""

    centre: dict[str, float]
    sd_log: dict[str, float]
    families: dict[str, tuple[str, ...]]


@dataclass
class FamilyFit:
    family: str
    params: dict[str, float]
    rows: list[str]
    loss: float
    fixed: tuple[str, ...] = ()   # parameters kept at their family default (not fitted)
    sd_log: dict[str, float] = field(default_factory=dict)   # fit uncertainty per parameter, ln units
    cov_log: np.ndarray | None = None   # covariance of ln(parameters) over the fitted ones (sd_log's order)
    prior: CrossFamilyPrior | None = None   # the cross-family prior of a MAP fit (None: stage 1, unpooled)
    unpooled: dict[str, float] = field(default_factory=dict)   # the stage-1 values (a MAP fit's starting point)


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


def _pull(names: list[str], default: dict[str, float], cross: CrossFamilyPrior | None):
    """ln centre and sd (ln units) of each parameter's prior: the cross-family one where it has one,
    else the weak pull to the family default."""
    cross_sd = cross.sd_log if cross else {}
    centre = np.array([math.log(cross.centre[k] if k in cross_sd else default[k]) for k in names])
    sd = np.array([cross_sd.get(k, DEFAULT_SD_LOG) for k in names])
    return centre, sd


def _robust_rows_gaussian_prior(n_rows: int) -> Callable[[np.ndarray], np.ndarray]:
    """least_squares loss: soft_l1 on the first `n_rows` residuals (rows), quadratic on the rest (priors)."""
    def rho(z: np.ndarray) -> np.ndarray:
        out = np.empty((3, z.size))
        t = 1.0 + z[:n_rows]
        out[0, :n_rows], out[1, :n_rows], out[2, :n_rows] = 2.0 * (np.sqrt(t) - 1.0), t ** -0.5, -0.5 * t ** -1.5
        out[0, n_rows:], out[1, n_rows:], out[2, n_rows:] = z[n_rows:], 1.0, 0.0
        return out
    return rho


def _jacobian(fun: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray):
    """Forward differences of `fun` with an absolute step of LN_STEP in ln units (stepping inward at an upper
    bound). scipy's relative step (diff_step x |x|) vanishes at ln x = 0, a fraction at its bound 1.0, where it
    gave a zero Jacobian column: the parameter could not leave the bound and looked perfectly known."""
    def jac(x: np.ndarray) -> np.ndarray:
        f0 = fun(x)
        out = np.empty((f0.size, x.size))
        for i in range(x.size):
            h = LN_STEP if x[i] + LN_STEP <= hi[i] else -LN_STEP
            xi = x.copy()
            xi[i] += h
            out[:, i] = (fun(xi) - f0) / h
        return out
    return jac


def map_fit(row_residuals: Callable[[np.ndarray], np.ndarray], n_rows: int, x0: np.ndarray, lo: np.ndarray,
            hi: np.ndarray, centre: np.ndarray, sd: np.ndarray, robust: bool = True, max_nfev: int = 60):
    """Maximum a posteriori x (ln parameters) under rows of error sd ROBUST_SCALE (soft_l1 when `robust`)
    and independent Gaussian priors N(centre, sd^2); returns (x, the rows' residuals, posterior covariance)."""
    weight = ROBUST_SCALE / sd

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.concatenate([row_residuals(x), weight * (x - centre)])

    loss = _robust_rows_gaussian_prior(n_rows) if robust else "linear"
    sol = least_squares(residuals, np.clip(x0, lo + 1e-9, hi - 1e-9), jac=_jacobian(residuals, lo, hi),
                        bounds=(lo, hi), method="trf", loss=loss, f_scale=ROBUST_SCALE, x_scale=1.0, xtol=1e-6,
                        ftol=1e-8, max_nfev=max_nfev)
    rows = sol.fun[:n_rows]
    jr = sol.jac[:n_rows]   # the rows' Jacobian (scaled by the robust loss, as least_squares reports it)
    dof = n_rows - len(x0)
    s2 = float(np.sum(rows ** 2)) / dof if dof >= MIN_DOF else ROBUST_SCALE ** 2
    precision = jr.T @ jr / max(s2, 1e-12) + np.diag(1.0 / sd ** 2)
    cov = np.linalg.pinv(precision)
    # a covariance is symmetric with variances >= 0 (pinv's rounding leaves 1e-16 asymmetry)
    cov = 0.5 * (cov + cov.T)
    np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
    return sol.x, rows, cov


def fit_family(lib: Library, plans: dict, rows: pd.DataFrame, prior: dict[str, float],
               cross: CrossFamilyPrior | None = None, start: dict[str, float] | None = None) -> FamilyFit:
    """Fit PARAMS on `rows` (each with a Plan in `plans`): with `cross`, the MAP fit under the
    cross-family prior (other parameters weakly pulled to `prior`, the family defaults), started from
    `start`; without, the unpooled fit weakly pulled to and started from `prior`."""
    names = list(PARAMS) + ([FP4_PARAM] if (rows["weight_dtype"] == "fp4").any() else [])
    prior = {**prior, FP4_PARAM: prior.get(FP4_PARAM, 1.0)} if FP4_PARAM in names else prior
    # a default of exactly 0 (allowed for the overlap loss: the pure roofline) is kept, not fitted
    fixed = {k: 0.0 for k in names if prior.get(k) == 0.0}
    names = [k for k in names if k not in fixed]
    lo = np.array([math.log(BOUNDS[k][0]) for k in names])
    hi = np.array([math.log(BOUNDS[k][1]) for k in names])
    centre, sd = _pull(names, prior, cross)
    x0 = np.array([math.log((start or prior)[k]) for k in names])

    def params_of(x: np.ndarray) -> dict[str, float]:
        return {**{k: math.exp(v) for k, v in zip(names, x)}, **fixed}

    x, res, cov = map_fit(lambda x: _residuals(plans, rows, params_of(x)), len(rows), x0, lo, hi, centre, sd)
    params = params_of(x)
    sd_post = {k: float(math.sqrt(cov[i, i])) for i, k in enumerate(names)}
    # the reported loss: the rows' squared log errors plus the prior's (in the rows' units)
    loss = float(np.sum(res ** 2) + np.sum((ROBUST_SCALE / sd * (x - centre)) ** 2))
    return FamilyFit(family(rows.iloc[0]["hardware"]), params, list(rows["id"]), loss, tuple(fixed), sd_post, cov,
                     cross, dict(start or params) if cross else params)


def cross_family_prior(unpooled: dict[str, dict[str, float]], fixed: dict[str, tuple[str, ...]],
                       kinds: dict[str, str], fam: str) -> CrossFamilyPrior:
    """The prior of `fam`'s MAP fit from the other families' unpooled fits (`unpooled`: family -> values,
    `fixed`: family -> parameters it did not fit): per parameter fitted by at least two other families of
    `fam`'s kind (SHARED parameters only), the median of their ln values and their sd (ddof 1, at least MIN_PRIOR_SD_LOG)."""
    kind = kinds.get(fam, "accelerator")
    peers = sorted(f for f in unpooled if f != fam and kinds.get(f, "accelerator") == kind)
    centre, sd, families = {}, {}, {}
    for k in sorted({k for f in peers for k in unpooled[f] if k in SHARED}):
        have = [f for f in peers if k in unpooled[f] and k not in fixed.get(f, ()) and unpooled[f][k] > 0]
        if len(have) < 2:
            continue
        logs = np.log([unpooled[f][k] for f in have])
        centre[k] = float(math.exp(np.median(logs)))
        sd[k] = max(float(np.std(logs, ddof=1)), MIN_PRIOR_SD_LOG)
        families[k] = tuple(have)
    return CrossFamilyPrior(centre, sd, families)


def usable_rows(df: pd.DataFrame, plans: dict) -> pd.DataFrame:
    """Rows with a plan (not skipped), with their family and source group."""
    ok = df[df["id"].map(lambda i: not isinstance(plans.get(i), (Skip, type(None))))].copy()
    ok["family"] = ok["hardware"].map(family)
    ok["source_group"] = ok["source"].astype(str).map(source_group)
    return ok


def fit_all(lib: Library, plans: dict, rows: pd.DataFrame, priors: dict[str, dict],
            progress: Callable[[str], None] | None = None, kinds: dict[str, str] | None = None,
            unpooled: dict[str, FamilyFit] | None = None) -> dict[str, FamilyFit]:
    """Per family with defaults in `priors`: the unpooled fit (stage 1), then, given `kinds` (family ->
    'accelerator' or 'cpu'), the MAP fit under the cross-family prior of the other families' stage-1
    fits (stage 2). `unpooled`: stage-1 fits of families without rows here (their fits still inform
    the prior)."""
    first = {}
    groups = {fam: g for fam, g in rows.groupby("family") if fam in priors}
    for fam, g in groups.items():
        if progress:
            progress(fam)
        first[fam] = fit_family(lib, plans, g, priors[fam])
    if kinds is None:
        return first
    every = {f: v.params for f, v in (unpooled or {}).items()} | {f: v.params for f, v in first.items()}
    fixed = {f: v.fixed for f, v in (unpooled or {}).items()} | {f: v.fixed for f, v in first.items()}
    out = {}
    for fam, g in groups.items():
        if progress:
            progress(f"{fam} (MAP)")
        out[fam] = fit_family(lib, plans, g, priors[fam], cross_family_prior(every, fixed, kinds, fam), first[fam].params)
    return out


def unpooled_fits(fits: dict[str, FamilyFit]) -> dict[str, FamilyFit]:
    """The stage-1 (unpooled) values behind MAP fits, as fits (for the prior of a refit)."""
    return {f: FamilyFit(v.family, v.unpooled or v.params, v.rows, v.loss, v.fixed) for f, v in fits.items()}


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
    fits = fits if fits is not None else fit_all(lib, plans, rows, priors, kinds=kinds)
    out = []
    extra = predicted_only if predicted_only is not None else rows.iloc[:0]
    for held in sorted(set(rows["source_group"]) | set(extra["source_group"])):
        if progress:
            progress(held)
        train = rows[rows["source_group"] != held]
        touched = set(rows[rows["source_group"] == held]["family"])
        untouched = unpooled_fits({f: v for f, v in fits.items() if f not in touched})
        refit = fit_all(lib, plans, train[train["family"].isin(touched)], priors, kinds=kinds, unpooled=untouched)
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
