"""Scenario kind `pairwise_advantage`: the $/M-token advantage of each ASIC over each GPU, for each
price basis (an owner's view and renters' views), load profile and efficiency assumption, with Monte
Carlo bands, the probability of landing in the claimed 40-65 %, and the conditions that move it
there (the 40-65 % ASIC claim)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...cost.inputs import chip_cost_row, parse_price_basis, rental_range, rentals_for
from ...cost.tco import chip_hour_cost, monte_carlo_chip_hour, tornado
from ...cost.utilisation import Profile, owner_usd_per_mean_chip_hour, renter_usd_per_mean_chip_hour
from ...errors import InfersimError
from ...kernels import layout as L
from ...specs.library import Library
from ...specs.price_basis import Basis
from ...specs.scenario_file import ScenarioSpec
from .deploy import Deployment, ScenarioResult, deploy_all, deployment_record, efficiency_bands, scenario_chips

ASIC_CLAIM_RANGE = (0.40, 0.65)  # the claimed ASIC TCO advantage over GPUs (inference), tested here
OWN_EFFICIENCY = "own"


@dataclass
class ViewDraws:
    """$/M tokens draws of every chip of one view, profile and efficiency, and the drawn inputs."""

    usd_per_mtok: dict[str, np.ndarray]
    central: dict[str, float]
    inputs: dict[str, np.ndarray]            # name -> drawn value per sample (for the conditions)
    reserved_share: dict[str, float]         # renters: reserved / peak capacity at the central prices


def on_demand_price(chip, basis: Basis) -> float | None:
    """The renter's on-demand price beside a commitment (same provider and date), None without one."""
    if basis.term == "on_demand":
        return None
    od = Basis("rental", provider=basis.provider, term="on_demand", as_of=basis.as_of)
    if not rentals_for(chip, od.provider, "on_demand", od.as_of):
        return None
    return rental_range(chip, od).central


def per_chip_hour_draws(lib: Library, spec: ScenarioSpec, deps: list[Deployment], seed: int,
                        bands: dict | None = None) -> dict[str, np.ndarray]:
    """$/M tokens per $ of chip-hour of each deployment, one value per Monte Carlo sample, drawn once per
    efficiency assumption and shared by every view and load profile (so they differ only in prices).
    This is where the efficiency priors enter: with `bands` (chip -> EfficiencyBand, efficiency_bands),
    each sample takes one of the chip's efficiency draws (its deployment re-derived in it); without
    them, each deployment's own value in every sample."""
    if not bands:
        return {d.chip_id: np.full(spec.samples, d.per_chip_hour) for d in deps}
    rng = np.random.default_rng(seed)
    return {d.chip_id: bands[d.chip_id].resample(rng, spec.samples) for d in deps}


def view_draws(lib: Library, spec: ScenarioSpec, deps: list[Deployment], basis: Basis, profile: Profile,
               rng_seed: int, throughput: dict[str, np.ndarray]) -> tuple[ViewDraws, list[tuple[str, str]]]:
    """Monte Carlo of $/M tokens for every deployed chip that has a price in this view; `throughput`:
    per_chip_hour_draws."""
    budget = lib.budget(spec.budget)
    rows, kept, missing = [], [], []
    for d in deps:
        chip = lib.chip(d.chip_id)
        try:
            rows.append(chip_cost_row(chip, lib.platform_of(chip), basis))
            kept.append(d)
        except InfersimError as exc:
            missing.append((d.chip_id, str(exc)))
    if not kept:
        return ViewDraws({}, {}, {}, {}), missing
    specs = [lib.chip(d.chip_id) for d in kept]
    s = monte_carlo_chip_hour(specs, [lib.platform_of(c) for c in specs], budget, basis, spec.samples,
                              rng_seed, rows=rows, keep_inputs=True)
    out, central, shares = {}, {}, {}
    for i, (d, cr, chip) in enumerate(zip(kept, rows, specs)):
        if basis.view == "owner":
            per_mean_chip = owner_usd_per_mean_chip_hour(s.total[:, i], s.power[:, i], s.power_idle[:, i], profile)
            c = chip_hour_cost(chip, budget, basis, lib.platform_of(chip))
            c_mean = owner_usd_per_mean_chip_hour(c.total_usd_per_hour, c.power_usd_per_hour,
                                                  c.power_idle_usd_per_hour, profile)
        else:
            od = on_demand_price(chip, basis)
            per_mean_chip, _ = renter_usd_per_mean_chip_hour(s.total[:, i], od, profile)
            c_mean, x = renter_usd_per_mean_chip_hour(np.array([cr.row[L.P_RENT_USD_H]]), od, profile)
            shares[d.chip_id] = float(x[0]) / profile.peak_to_mean
        out[d.chip_id] = per_mean_chip * throughput[d.chip_id]
        central[d.chip_id] = float(np.ravel(c_mean)[0]) * d.per_chip_hour
    inputs = dict(s.inputs)
    for d in kept:   # the efficiency draws, as tokens/s per chip relative to the deployment's own
        t = throughput[d.chip_id]
        if np.ptp(t) > 0:
            inputs[f"{d.chip_id}.tokens_per_s_per_chip (efficiency draw)"] = d.per_chip_hour / t
    return ViewDraws(out, central, inputs, shares), missing


def conditions(adv: np.ndarray, inside: np.ndarray, inputs: dict[str, np.ndarray], top: int = 3) -> list[dict]:
    """The sampled inputs whose top third of draws most changes the chance of landing in the range:
    P(in range | input in its top third) against P(in range | bottom third)."""
    recs = []
    for name, v in inputs.items():
        if np.ptp(v) <= 0:
            continue
        lo, hi = np.percentile(v, [100 / 3, 200 / 3])
        low, high = inside[v <= lo], inside[v >= hi]
        if len(low) == 0 or len(high) == 0:
            continue
        recs.append({"input": name, "prob_in_range_input_low": float(low.mean()),
                     "prob_in_range_input_high": float(high.mean()),
                     "median_advantage_input_low": float(np.median(adv[v <= lo])),
                     "median_advantage_input_high": float(np.median(adv[v >= hi]))})
    recs.sort(key=lambda r: -max(abs(r["prob_in_range_input_high"] - r["prob_in_range_input_low"]),
                                 abs(r["median_advantage_input_high"] - r["median_advantage_input_low"])))
    return recs[:top]


def run_pairwise_advantage(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    asics, gpus = scenario_chips(lib, spec), spec.baseline_chips
    views = [parse_price_basis(v) for v in (spec.views or [spec.price_basis])]
    profiles = spec.load_profiles or ["flat"]
    efficiencies = spec.efficiency_variants or [spec.efficiency_like or OWN_EFFICIENCY]
    lo, hi = ASIC_CLAIM_RANGE
    rows, cond_rows, dep_rows, skipped, drivers = [], [], [], [], []
    for e_i, eff in enumerate(efficiencies):
        owner_spec = spec.model_copy(update={"price_basis": "owner",
                                             "efficiency_like": None if eff == OWN_EFFICIENCY else eff})
        deps, skip = deploy_all(lib, owner_spec, asics + gpus, progress)
        skipped += [(c, f"{why} (efficiency {eff})") for c, why in skip]
        # what is not known about each chip's efficiencies: draws from its prior (model/efficiency_prior.py)
        bands = efficiency_bands(lib, owner_spec, deps) if spec.efficiency_uncertainty else None
        dep_rows += [dict(deployment_record(d), efficiency=eff,
                          **(_band_columns(d, bands[d.chip_id]) if bands else {})) for d in deps]
        by_id = {d.chip_id: d for d in deps}
        throughput = per_chip_hour_draws(lib, owner_spec, deps, spec.seed + 17 * e_i, bands)
        for v_i, basis in enumerate(views):
            for p_i, pid in enumerate(profiles):
                profile = Profile.of(lib.load_profile(pid).hourly_relative_rate)
                draws, missing = view_draws(lib, spec, deps, basis, profile, spec.seed + 1000 * v_i + 7 * e_i,
                                            throughput)
                no_price = dict(missing)
                for a in asics:
                    for g in gpus:
                        if a not in by_id or g not in by_id:
                            continue
                        base = {"view": basis.text, "load_profile": pid, "efficiency": eff, "asic": a, "gpu": g,
                                "asic_efficiency_source": bands[a].prior.tier if bands else "fixed",
                                "gpu_efficiency_source": bands[g].prior.tier if bands else "fixed"}
                        if a in no_price or g in no_price:
                            rows.append(dict(base, note="no price in this view: " + ", ".join(
                                c for c in (a, g) if c in no_price)))
                            continue
                        adv = 1.0 - draws.usd_per_mtok[a] / draws.usd_per_mtok[g]
                        inside = (adv >= lo) & (adv <= hi)
                        p10, p50, p90 = np.percentile(adv, [10, 50, 90])
                        row = dict(base, asic_usd_per_mtok=draws.central[a], gpu_usd_per_mtok=draws.central[g],
                                   advantage_central=1.0 - draws.central[a] / draws.central[g],
                                   advantage_p10=p10, advantage_p50=p50, advantage_p90=p90,
                                   prob_in_40_65=float(inside.mean()), prob_above_65=float((adv > hi).mean()),
                                   prob_below_40=float((adv < lo).mean()),
                                   peak_to_mean=profile.peak_to_mean, note="")
                        if basis.view == "rental":
                            row["asic_reserved_share"] = draws.reserved_share.get(a)
                            row["gpu_reserved_share"] = draws.reserved_share.get(g)
                        conds = conditions(adv, inside, draws.inputs)
                        row["conditions"] = "; ".join(
                            f"{c['input']} low/high: P {c['prob_in_range_input_low']:.0%}/"
                            f"{c['prob_in_range_input_high']:.0%}, median {c['median_advantage_input_low']:+.0%}/"
                            f"{c['median_advantage_input_high']:+.0%}" for c in conds)
                        cond_rows += [dict(base, **c) for c in conds]
                        rows.append(row)
                        if basis.view == "owner" and pid == profiles[0] and e_i == 0:
                            drivers += _drivers(lib, spec, basis, by_id[a], by_id[g], bands)
    long = pd.DataFrame(rows)
    if long.empty or "advantage_p50" not in long:
        raise InfersimError("no ASIC/GPU pair could be deployed and priced: see the skipped chips")
    answered = long[long["advantage_p50"].notna()].reset_index(drop=True)
    not_answered = long[long["advantage_p50"].isna()][["view", "efficiency", "asic", "gpu", "note"]]
    not_answered = not_answered.drop_duplicates().reset_index(drop=True)
    head = _headline(answered, profiles)
    summary = findings(answered, pd.DataFrame(cond_rows), not_answered, profiles, efficiencies)
    tables = {"advantage": answered, "not_answered": not_answered, "deployments": pd.DataFrame(dep_rows),
              "conditions": pd.DataFrame(cond_rows), "drivers": pd.DataFrame(drivers)}
    return ScenarioResult(spec, head, summary, tables, skipped)


def _headline(answered: pd.DataFrame, profiles: list[str]) -> pd.DataFrame:
    """One row per view, efficiency and pair: the median advantage and the probability of 40-65 %
    under each load profile."""
    keys = ["view", "efficiency", "asic", "gpu"]
    out = answered[keys].drop_duplicates().reset_index(drop=True)
    for pid in profiles:
        sub = answered[answered["load_profile"] == pid].set_index(keys)
        idx = pd.MultiIndex.from_frame(out[keys])
        out[f"advantage_p50_{pid}"] = sub["advantage_p50"].reindex(idx).to_numpy()
        out[f"prob_in_40_65_{pid}"] = sub["prob_in_40_65"].reindex(idx).to_numpy()
    return out


def _band_columns(d: Deployment, band) -> dict:
    """A deployment's efficiency prior: where it comes from and its $/M tokens at the P10 / P90 of
    the efficiency draws (budget central)."""
    p10, p90 = d.usd_per_mtok / d.per_chip_hour * band.percentiles((10, 90))
    return {"efficiency_source": band.source, "usd_per_mtok_p10_efficiency": p10, "usd_per_mtok_p90_efficiency": p90}


def _drivers(lib: Library, spec: ScenarioSpec, basis: Basis, a: Deployment, g: Deployment,
             bands: dict | None = None) -> list[dict]:
    """Tornado of the central advantage (owner view, flat load): each input at its low and high,
    each chip's efficiency at the P10 and P90 of its draws."""
    pa, pg = lib.chip(a.chip_id), lib.chip(g.chip_id)
    metric = (lambda c, fa=a.per_chip_hour, fg=g.per_chip_hour: 1.0 - c[0] * fa / (c[1] * fg))
    tor = tornado([pa, pg], [lib.platform_of(pa), lib.platform_of(pg)], lib.budget(spec.budget), metric, basis)
    if bands:
        budget = lib.budget(spec.budget)
        ca = chip_hour_cost(pa, budget, basis, lib.platform_of(pa)).total_usd_per_hour
        cg = chip_hour_cost(pg, budget, basis, lib.platform_of(pg)).total_usd_per_hour
        extra = []
        for d in (a, g):
            lo, hi = bands[d.chip_id].percentiles((10, 90))
            if not (np.isfinite(lo) and np.isfinite(hi)) or lo == hi:
                continue
            fa = [lo if d is a else a.per_chip_hour, hi if d is a else a.per_chip_hour]
            fg = [lo if d is g else g.per_chip_hour, hi if d is g else g.per_chip_hour]
            at = [1.0 - ca * fa[k] / (cg * fg[k]) for k in (0, 1)]
            extra.append({"input": f"{d.chip_id}.efficiency (prior P10-P90 of cost)", "low_value": lo,
                          "high_value": hi, "metric_at_low": at[0], "metric_at_high": at[1],
                          "swing": abs(at[1] - at[0]), "central_metric": 1.0 - ca * a.per_chip_hour / (cg * g.per_chip_hour)})
        if extra:
            tor = pd.concat([tor, pd.DataFrame(extra)], ignore_index=True).sort_values("swing", ascending=False)
    return [{"asic": a.chip_id, "gpu": g.chip_id, "input": r.input, "low_value": r.low_value,
             "high_value": r.high_value, "advantage_at_low": r.metric_at_low, "advantage_at_high": r.metric_at_high,
             "swing": r.swing, "advantage_central": r.central_metric} for r in tor.itertuples(index=False)]


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _pairs(g: pd.DataFrame, value: str = "prob_in_40_65") -> str:
    return ", ".join(f"{r.asic.replace('google-', '').replace('aws-', '')} vs "
                     f"{r.gpu.replace('nvidia-', '')} ({_pct(getattr(r, value))})" for r in g.itertuples())


def findings(h: pd.DataFrame, conds: pd.DataFrame, not_answered: pd.DataFrame, profiles: list[str],
             efficiencies: list[str]) -> str:
    """Where the claimed range holds and where it does not, with the probabilities: the paragraph the
    docs quote, computed from the results (owners and renters, each efficiency assumption, the load)."""
    lo, hi = ASIC_CLAIM_RANGE
    flat = profiles[0]
    parts = []
    owner = h[(h["view"] == "owner") & (h["load_profile"] == flat)]
    for eff in efficiencies:
        g = owner[owner["efficiency"] == eff]
        if g.empty:
            continue
        inside = g[g["prob_in_40_65"] >= 0.5]
        unlikely = g[(g["prob_in_40_65"] < 0.5) & g["advantage_p50"].between(lo, hi)]
        above = g[(g["advantage_p50"] > hi) & (g["prob_in_40_65"] < 0.5)]
        below = g[(g["advantage_p50"] < lo) & (g["prob_in_40_65"] < 0.5)]
        parts.append(f"Owners, {flat} load, {eff} efficiencies: more likely than not inside {lo:.0%}-{hi:.0%} for "
                     f"{_pairs(inside) or 'no pair'}"
                     + (f"; median inside but less likely than not (a wide band) for {_pairs(unlikely)}" if len(unlikely)
                        else "")
                     + f"; above it for {_pairs(above, 'advantage_p50') or 'no pair'} (median advantage); below it "
                       f"for {_pairs(below, 'advantage_p50') or 'no pair'}")
    if len(conds):
        c = conds[(conds["view"] == "owner") & (conds["load_profile"] == flat) & (conds["efficiency"] == efficiencies[0])]
        c = c.assign(lift=(c["prob_in_range_input_high"] - c["prob_in_range_input_low"]).abs())
        top = c.sort_values("lift", ascending=False).drop_duplicates(["asic", "gpu"]).head(3)
        if len(top):
            parts.append("what moves an owner's pair most: " + "; ".join(
                f"{r.input} ({r.asic} vs {r.gpu}: in range with probability {_pct(r.prob_in_range_input_low)} "
                f"when it is in its lowest third, {_pct(r.prob_in_range_input_high)} in its highest)"
                for r in top.itertuples()))
    if len(profiles) > 1:
        o = h[h["view"] == "owner"].pivot_table(index=["efficiency", "asic", "gpu"], columns="load_profile",
                                                values="advantage_p50")
        shift = max((o[p] - o[flat]).abs().max() for p in profiles[1:] if p in o)
        parts.append(f"a variable load moves an owner's median advantage by at most {100 * shift:.1f} points "
                     f"(both chips carry their capital through the idle hours)")
    for view, g in h[h["view"] != "owner"].groupby("view", sort=False):
        per_eff = []
        for eff in efficiencies:
            e = g[g["efficiency"] == eff]
            if e.empty:
                continue
            inside = [f"{_pairs(e[(e['load_profile'] == pid) & (e['prob_in_40_65'] >= 0.5)]) or 'none'} ({pid})"
                      for pid in profiles]
            per_eff.append(f"{eff} efficiencies, inside: " + "; ".join(inside) +
                           f"; medians {100 * e['advantage_p50'].min():+.0f} to {100 * e['advantage_p50'].max():+.0f} %")
        parts.append(f"Renters, {view}: " + " | ".join(per_eff))
    if len(not_answered):
        views = not_answered["view"].unique()
        missing = {}
        for n, v in zip(not_answered["note"], not_answered["view"]):
            for c in n.split(": ", 1)[-1].split(", "):
                missing.setdefault(c, set()).add(v)
        never = sorted(c for c, vs in missing.items() if len(vs) == len(views))
        if never:
            parts.append(f"{', '.join(never)}: no rental price in any renter's view, so the renter's question is not "
                         f"answered for them")
    return ". ".join(parts) + "."
