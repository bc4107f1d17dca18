"""Scenario kind `migration`: published moves from GPUs to TPUs or Trainium, rebuilt with the chips and
the prices of their time, against the saving that was reported."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...cost.inputs import chip_cost_row, parse_price_basis
from ...cost.tco import chip_hour_cost, monte_carlo_chip_hour
from ...errors import InfersimError
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .advantage import OWN_EFFICIENCY
from .deploy import ScenarioResult, deploy, efficiency_bands


def run_migration(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    budget = lib.budget(spec.budget)
    efficiencies = spec.efficiency_variants or [spec.efficiency_like or OWN_EFFICIENCY]
    rows, skipped = [], []
    for i, case in enumerate(spec.cases):
        if progress:
            progress(i, len(spec.cases), case.name)
        basis = parse_price_basis(case.price_basis)
        for eff in efficiencies:
            cs = spec.model_copy(update={
                "model": case.model, "weight_dtype": case.weight_dtype, "kv_dtype": case.kv_dtype,
                "input_len": case.input_len, "output_len": case.output_len, "max_tpot_ms": case.max_tpot_ms,
                "max_ttft_ms": None, "price_basis": "owner", "efficiency_like": None if eff == OWN_EFFICIENCY else eff})
            try:
                old, new = deploy(lib, cs, case.from_chip), deploy(lib, cs, case.to_chip)
                chips = [lib.chip(case.from_chip), lib.chip(case.to_chip)]
                plats = [lib.platform_of(c) for c in chips]
                hour = [chip_hour_cost(c, budget, basis, p).total_usd_per_hour for c, p in zip(chips, plats)]
                draws = monte_carlo_chip_hour(chips, plats, budget, basis, spec.samples, spec.seed,
                                              rows=[chip_cost_row(c, p, basis) for c, p in zip(chips, plats)]).total
            except InfersimError as exc:
                skipped.append((f"{case.name} ({eff} efficiency)", str(exc)))
                continue
            f_old, f_new = old.per_chip_hour, new.per_chip_hour
            saving = 1.0 - hour[1] * f_new / (hour[0] * f_old)
            # the band: price draws with each chip's efficiency drawn from its prior (the deployment
            # re-derived per draw), paired at random
            if spec.efficiency_uncertainty:
                bands = efficiency_bands(lib, cs, [old, new])
                rng = np.random.default_rng(spec.seed + i)
                fo, fn = (bands[d.chip_id].resample(rng, len(draws)) for d in (old, new))
            else:
                fo, fn = np.full(len(draws), f_old), np.full(len(draws), f_new)
            with np.errstate(divide="ignore", invalid="ignore"):   # a draw that cannot run costs inf
                band = 1.0 - draws[:, 1] * fn / (draws[:, 0] * fo)
            band = band[np.isfinite(band)]
            p10, p90 = np.percentile(band, [10, 90])
            price_ratio = hour[1] / hour[0]
            thr_ratio = new.result.tokens_per_s_per_chip / old.result.tokens_per_s_per_chip
            rep_lo = case.reported_saving
            rep_hi = case.reported_saving_high if case.reported_saving_high is not None else rep_lo
            rows.append({
                "case": case.name, "from_chip": case.from_chip, "to_chip": case.to_chip, "price_basis": basis.text,
                "efficiency": eff, "model": case.model, "input_len": case.input_len, "output_len": case.output_len,
                "from_usd_per_chip_hour": hour[0], "to_usd_per_chip_hour": hour[1], "price_ratio": price_ratio,
                "from_tokens_per_s_per_chip": old.result.tokens_per_s_per_chip,
                "to_tokens_per_s_per_chip": new.result.tokens_per_s_per_chip,
                "throughput_ratio": thr_ratio, "modelled_saving": saving, "modelled_saving_p10": p10,
                "modelled_saving_p90": p90, "reported_saving_low": rep_lo, "reported_saving_high": rep_hi,
                # the per-chip throughput ratio the reported saving needs at these prices: 1 - s = price / throughput
                "throughput_ratio_needed": price_ratio / (1.0 - (rep_lo + rep_hi) / 2),
                "verdict": _verdict(p10, p90, rep_lo, rep_hi), "claim": case.claim, "workload_note": case.workload_note,
            })
    detail = pd.DataFrame(rows)
    if detail.empty:
        raise InfersimError("no migration case could be rebuilt: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    head = _by_case(detail, efficiencies)
    agree = head[head["verdict"] == "reported inside the modelled range"]

    def per_eff(case: str) -> str:
        g = detail[detail["case"] == case]
        return ", ".join(f"{r.efficiency} efficiencies {r.modelled_saving:+.0%} ({r.modelled_saving_p10:+.0%} to "
                         f"{r.modelled_saving_p90:+.0%})" for r in g.itertuples())

    summary = (f"{len(agree)} of {len(head)} rebuilt cases put the reported saving inside the range the model spans "
               f"(P10-P90 over prices and efficiency priors, across {' and '.join(efficiencies)} efficiencies); "
               + "; ".join(f"{r.case}: {per_eff(r.case)} vs reported {_reported(r)}" for r in head.itertuples()) + "."
               + (f" Not rebuilt: {'; '.join(spec.not_rebuilt)}." if spec.not_rebuilt else ""))
    tables = {"by_efficiency": detail, "not_rebuilt": pd.DataFrame({"case": spec.not_rebuilt})}
    return ScenarioResult(spec, head, summary, tables, skipped)


def _by_case(detail: pd.DataFrame, efficiencies: list[str]) -> pd.DataFrame:
    """One row per case: its prices and throughput ratio under each efficiency, the range of modelled
    savings they span, the reported saving and the verdict."""
    out = []
    for case, g in detail.groupby("case", sort=False):
        first = g.iloc[0]
        row = {"case": case, "from_chip": first["from_chip"], "to_chip": first["to_chip"],
               "price_basis": first["price_basis"], "price_ratio": first["price_ratio"]}
        for r in g.itertuples():
            row[f"throughput_ratio_{r.efficiency}"] = r.throughput_ratio
            row[f"modelled_saving_{r.efficiency}"] = r.modelled_saving
        lo, hi = float(g["modelled_saving_p10"].min()), float(g["modelled_saving_p90"].max())
        row.update(modelled_saving_low=lo, modelled_saving_high=hi, reported_saving_low=first["reported_saving_low"],
                   reported_saving_high=first["reported_saving_high"],
                   throughput_ratio_needed=first["throughput_ratio_needed"],
                   verdict=_verdict(lo, hi, first["reported_saving_low"], first["reported_saving_high"]))
        out.append(row)
    return pd.DataFrame(out)


def _verdict(p10: float, p90: float, lo: float, hi: float) -> str:
    if hi < p10:
        return "model saves more than reported"
    if lo > p90:
        return "model saves less than reported"
    return "reported inside the modelled range"


def _reported(r) -> str:
    lo, hi = r.reported_saving_low, r.reported_saving_high
    return f"{lo:+.0%}" if lo == hi else f"{lo:+.0%}..{hi:+.0%}"
