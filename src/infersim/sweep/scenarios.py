"""Scenario runners: one per `kind` of workloads/scenarios/*.toml. Each returns tidy tables
(units in column names), a headline table and a one-line summary computed from them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cost.pack import chip_cost_row
from ..cost.tco import chip_hour_cost, monte_carlo_chip_hour, token_cost, tornado, usd_per_mtok_per_chip_hour
from ..errors import InfersimError
from ..kernels import layout as L
from ..dtypes import ACTIVATION_BYTES
from ..kernels.step import evaluate_nb, new_result_matrix, step_time_nb
from ..model.engine import Workload, config_row, resolve_precision
from ..model.mapping import Targets, min_chips_to_fit, search
from ..model.pack import pack_architecture, pack_chip
from ..specs.library import Library
from ..specs.scenario import ScenarioSpec
from .frontier import BATCHES

ASIC_CLAIM_RANGE = (0.40, 0.65)  # the claimed ASIC TCO advantage over GPUs (inference), tested here


@dataclass
class ScenarioResult:
    spec: ScenarioSpec
    headline: pd.DataFrame
    summary: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Deployment:
    chip_id: str
    kind: str
    result: object
    usd_per_chip_hour: float
    usd_per_mtok: float
    per_chip_hour: float        # $/M tokens per $ of chip-hour
    site_power_peak_w: float
    site_power_avg_w: float
    chip_price_usd: float


def _targets(spec: ScenarioSpec) -> Targets:
    return Targets(spec.max_ttft_ms / 1e3 if spec.max_ttft_ms else None,
                   spec.max_tpot_ms / 1e3 if spec.max_tpot_ms else None)


def _workload(spec: ScenarioSpec) -> Workload:
    return Workload(spec.input_len, spec.output_len)


def _deploy(lib: Library, spec: ScenarioSpec, chip_id: str, budget_id: str | None = None, smallest: bool = False,
            **search_args) -> Deployment:
    """Deploy the scenario's model on one chip: the best mapping for throughput under the
    targets, on the fewest chips that hold it when `smallest`."""
    chip = lib.chip(chip_id)
    if spec.efficiency_like:
        chip = chip.model_copy(update={"efficiency": lib.chip(spec.efficiency_like).efficiency})
    arch = lib.architecture(spec.model)
    precision = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
    search_args.setdefault("targets", _targets(spec))
    if smallest:
        search_args["num_chips"], _ = min_chips_to_fit(chip, arch, precision, _workload(spec))
    found = search(chip, arch, precision, _workload(spec), **search_args)
    cost = chip_hour_cost(chip, lib.budget(budget_id or spec.budget), spec.price_basis)
    tok = token_cost(found.best, cost, _workload(spec))
    return Deployment(chip_id, chip.kind, found.best, cost.total_usd_per_hour, tok.usd_per_mtok,
                      usd_per_mtok_per_chip_hour(found.best), cost.site_power_peak_w, cost.site_power_avg_w,
                      cost.chip_price_usd)


def _deploy_all(lib, spec, chip_ids, progress=None, **kw):
    done, skipped = [], []
    for i, cid in enumerate(chip_ids):
        if progress:
            progress(i, len(chip_ids), cid)
        try:
            done.append(_deploy(lib, spec, cid, **kw))
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
    return done, skipped


def _chips(lib: Library, spec: ScenarioSpec) -> list[str]:
    ids = spec.chips or lib.ids("chip")
    for c in ids + spec.baseline_chips:
        lib.path("chip", c)
    return ids


# ---- 1. ASIC vs GPU advantage ------------------------------------------------------------------
def run_pairwise_advantage(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    asics, gpus = _chips(lib, spec), spec.baseline_chips
    deps, skipped = _deploy_all(lib, spec, asics + gpus, progress)
    by_id = {d.chip_id: d for d in deps}
    budget = lib.budget(spec.budget)
    specs = [lib.chip(d.chip_id) for d in deps]
    samples = monte_carlo_chip_hour(specs, budget, spec.price_basis, spec.samples, spec.seed)
    per_mtok = samples * np.array([d.per_chip_hour for d in deps])[None, :]
    col = {d.chip_id: i for i, d in enumerate(deps)}
    lo, hi = ASIC_CLAIM_RANGE
    rows, drivers = [], []
    for a in asics:
        for g in gpus:
            if a not in by_id or g not in by_id:
                continue
            adv = 1.0 - per_mtok[:, col[a]] / per_mtok[:, col[g]]
            p10, p50, p90 = np.percentile(adv, [10, 50, 90])
            pa, pg = lib.chip(a), lib.chip(g)
            tor = tornado([pa, pg], budget, lambda c, fa=by_id[a].per_chip_hour, fg=by_id[g].per_chip_hour:
                          1.0 - c[0] * fa / (c[1] * fg), spec.price_basis)
            top = tor.head(3)
            for r in tor.itertuples(index=False):
                drivers.append({"asic": a, "gpu": g, "input": r.input, "low_value": r.low_value,
                                "high_value": r.high_value, "advantage_at_low": r.metric_at_low,
                                "advantage_at_high": r.metric_at_high, "swing": r.swing})
            rows.append({
                "asic": a, "gpu": g, "asic_usd_per_mtok": by_id[a].usd_per_mtok, "gpu_usd_per_mtok": by_id[g].usd_per_mtok,
                "advantage_central": 1.0 - by_id[a].usd_per_mtok / by_id[g].usd_per_mtok,
                "advantage_p10": p10, "advantage_p50": p50, "advantage_p90": p90,
                "prob_in_40_65": float(np.mean((adv >= lo) & (adv <= hi))),
                "top_drivers": "; ".join(
                    f"{r.input} {r.metric_at_low:+.0%}..{r.metric_at_high:+.0%}" for r in top.itertuples(index=False)),
            })
    head = pd.DataFrame(rows)
    if head.empty:
        raise InfersimError("no ASIC/GPU pair could be deployed: see the skipped chips")
    inside = head[(head["advantage_p50"] >= lo) & (head["advantage_p50"] <= hi)]
    summary = (f"{len(inside)} of {len(head)} ASIC/GPU pairs have a median $/M-token advantage inside "
               f"{lo:.0%}-{hi:.0%} (median of all pairs {head['advantage_p50'].median():+.0%}); "
               f"the inputs that move it most: {_most_common_driver(pd.DataFrame(drivers))}.")
    deploy_table = pd.DataFrame([_deployment_record(d) for d in deps])
    return ScenarioResult(spec, head, summary, {"deployments": deploy_table, "drivers": pd.DataFrame(drivers)},
                          skipped)


def _most_common_driver(drivers: pd.DataFrame) -> str:
    if drivers.empty:
        return "-"
    top = drivers.sort_values("swing", ascending=False).groupby(["asic", "gpu"]).head(2)
    return ", ".join(top["input"].value_counts().head(3).index)


def _deployment_record(d: Deployment) -> dict:
    r = d.result
    return {"chip": d.chip_id, "chip_kind": d.kind, "num_chips": r.mapping.chips, "mapping": r.mapping.label,
            "batch": r.batch, "ttft_s": r.ttft_s, "tpot_s": r.tpot_s, "user_tokens_per_s": r.user_tokens_per_s,
            "system_tokens_per_s": r.system_tokens_per_s, "tokens_per_s_per_chip": r.tokens_per_s_per_chip,
            "decode_bound": r.decode_bound, "chip_price_usd": d.chip_price_usd,
            "usd_per_chip_hour": d.usd_per_chip_hour, "usd_per_mtok": d.usd_per_mtok}


# ---- 2. decode is bandwidth bound, prefill compute bound -------------------------------------
def run_elasticity(lib: Library, spec: ScenarioSpec, progress=None, step: float = 0.05) -> ScenarioResult:
    arch = lib.architecture(spec.model)
    a = pack_architecture(arch)[None, :]
    w = _workload(spec)
    rows, skipped = [], []
    ids = _chips(lib, spec)
    for i, cid in enumerate(ids):
        if progress:
            progress(i, len(ids), cid)
        chip = lib.chip(cid)
        try:
            p = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
            need, mapping = min_chips_to_fit(chip, arch, p, w)
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        base = pack_chip(chip, p.compute_dtype)
        variants = [base]
        for f in (L.C_MEM_BW, L.C_PEAK_FLOPS):
            for s in (1 + step, 1 - step):
                v = base.copy()
                v[f] *= s
                variants.append(v)
        chips = np.stack(variants)
        cfgs = np.stack([config_row(k, 0, p, mapping, w, batch=1) for k in range(len(variants))])
        out = new_result_matrix(len(cfgs))
        evaluate_nb(a, chips, cfgs, out)
        e = {}
        for name, idx, j in (("tpot_vs_bw", L.R_TPOT_S, 1), ("tpot_vs_flops", L.R_TPOT_S, 3),
                             ("ttft_vs_bw", L.R_TTFT_S, 1), ("ttft_vs_flops", L.R_TTFT_S, 3)):
            e[name] = (math.log(out[j, idx]) - math.log(out[j + 1, idx])) / (math.log(1 + step) - math.log(1 - step))
        crossover = _compute_bound_batch(a[0], base, p, mapping, w)
        max_batch = int(out[0, L.R_MAX_BATCH])
        rows.append({"chip": cid, "chip_kind": chip.kind, "num_chips": need, "mapping": mapping.label,
                     "elasticity_tpot_to_bandwidth": e["tpot_vs_bw"], "elasticity_tpot_to_flops": e["tpot_vs_flops"],
                     "elasticity_ttft_to_bandwidth": e["ttft_vs_bw"], "elasticity_ttft_to_flops": e["ttft_vs_flops"],
                     "decode_compute_bound_from_batch": crossover, "max_batch_on_these_chips": max_batch,
                     "crossover_fits": bool(crossover <= max_batch),
                     "ridge_flop_per_byte": base[L.C_PEAK_FLOPS] / base[L.C_MEM_BW]})
    head = pd.DataFrame(rows)
    mem_bound = head[head["elasticity_tpot_to_bandwidth"] < -0.8]
    cross = head["decode_compute_bound_from_batch"]
    summary = (f"batch-1 decode: TPOT elasticity to bandwidth median {head['elasticity_tpot_to_bandwidth'].median():.2f}, "
               f"to FLOP/s {head['elasticity_tpot_to_flops'].median():.2f} ({len(mem_bound)} of {len(head)} chips below "
               f"-0.8); {spec.input_len}-token prefill: TTFT elasticity to FLOP/s median "
               f"{head['elasticity_ttft_to_flops'].median():.2f}, to bandwidth {head['elasticity_ttft_to_bandwidth'].median():.2f}; "
               f"decode turns compute bound at a batch of {cross.min():.0f} to {cross.max():.0f} (median {cross.median():.0f}) "
               f"on {int(cross.notna().sum())} chips, within memory on {int(head['crossover_fits'].sum())} at their smallest "
               f"deployment; on {int(cross.isna().sum())} it never does: the KV-cache read of each sequence grows with the batch "
               f"as fast as its FLOPs.")
    return ScenarioResult(spec, head, summary, {}, skipped)


def _compute_bound_batch(arch_row, chip_row, precision, mapping, workload, limit: int = 1 << 16) -> float:
    """Smallest decode batch at which the step's compute time exceeds its memory time, from the
    step model alone (capacity not checked: the caller says whether it fits). NaN above `limit`."""
    scratch = [np.zeros(L.N_OPS) for _ in range(4)]
    bounds, bound_time = np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)
    past = workload.input_len + (workload.output_len - 1) / 2.0

    def compute_bound(batch: int) -> bool:
        micro = min(batch, mapping.pp)
        step_time_nb(arch_row, chip_row, batch / micro, 1.0, past, True, precision.weight_bytes, precision.kv_bytes,
                     ACTIVATION_BYTES, mapping.tp, mapping.pp, mapping.ep, *scratch, bounds, bound_time)
        return bound_time[L.BOUND_COMPUTE] > bound_time[L.BOUND_MEMORY]

    if not compute_bound(limit):
        return float("nan")
    lo, hi = 1, limit  # compute share grows with batch: bisect for the first compute-bound batch
    if compute_bound(lo):
        return 1.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if compute_bound(mid) else (mid, hi)
    return float(hi)


# ---- 3. HBM price shock ------------------------------------------------------------------------
def run_budget_shock(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    rows, skipped = [], []
    ids = _chips(lib, spec)
    for i, cid in enumerate(ids):
        if progress:
            progress(i, len(ids), cid)
        try:
            base = _deploy(lib, spec, cid)
            shock = _deploy(lib, spec, cid, budget_id=spec.alt_budget)
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        row, _ = chip_cost_row(lib.chip(cid), spec.price_basis)
        rows.append({"chip": cid, "chip_kind": base.kind, "priced_from": "bom" if row[L.P_BOM] else "market",
                     "hbm_gb": row[L.P_HBM_GB], "chip_price_usd": base.chip_price_usd,
                     "chip_price_usd_shocked": shock.chip_price_usd,
                     "chip_price_change": shock.chip_price_usd / base.chip_price_usd - 1,
                     "usd_per_mtok": base.usd_per_mtok, "usd_per_mtok_shocked": shock.usd_per_mtok,
                     "usd_per_mtok_change": shock.usd_per_mtok / base.usd_per_mtok - 1})
    head = pd.DataFrame(rows).sort_values("usd_per_mtok_change", ascending=False).reset_index(drop=True)
    moved = head[head["chip_price_change"] > 0]
    if moved.empty:
        summary = f"{spec.alt_budget} vs {spec.budget}: no chip's price moved (no BOM-priced chip uses the changed HBM)."
    else:
        summary = (f"{spec.alt_budget} vs {spec.budget}: for the {len(moved)} BOM-priced chips whose HBM changed, chip "
                   f"price +{moved['chip_price_change'].min():.1%} to +{moved['chip_price_change'].max():.1%} and "
                   f"$/M tokens +{moved['usd_per_mtok_change'].min():.1%} to +{moved['usd_per_mtok_change'].max():.1%} "
                   f"(largest: {moved.iloc[0]['chip']}); market-priced chips and other HBM generations do not move.")
    return ScenarioResult(spec, head, summary, {}, skipped)


# ---- 4. a power-limited site --------------------------------------------------------------------
def run_power_limited(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    deps, skipped = _deploy_all(lib, spec, _chips(lib, spec), progress)
    site_w = spec.site_power_mw * 1e6
    rows = []
    for d in deps:
        unit = d.result.mapping.chips                      # chips of one deployment
        per_unit_w = unit * d.site_power_peak_w           # provisioned for peak draw
        units = math.floor(site_w / per_unit_w)
        chips = units * unit
        rows.append({"chip": d.chip_id, "chip_kind": d.kind, "chips_at_site": chips, "deployments": units,
                     "site_output_tokens_per_s": units * d.result.system_tokens_per_s,
                     "tokens_per_s_per_mw_peak": d.result.system_tokens_per_s / (per_unit_w / 1e6),
                     "usd_per_mtok": d.usd_per_mtok, "site_usd_per_hour": chips * d.usd_per_chip_hour,
                     "site_capex_chips_usd": chips * d.chip_price_usd})
    head = pd.DataFrame(rows).sort_values("site_output_tokens_per_s", ascending=False).reset_index(drop=True)
    cheapest = head.sort_values("usd_per_mtok").iloc[0]
    summary = (f"at {spec.site_power_mw:g} MW, {head.iloc[0]['chip']} serves the most tokens "
               f"({head.iloc[0]['site_output_tokens_per_s'] / 1e6:.2f} M tok/s, ${head.iloc[0]['usd_per_mtok']:.3f}/M); "
               f"the cheapest per token is {cheapest['chip']} (${cheapest['usd_per_mtok']:.3f}/M, "
               f"{cheapest['site_output_tokens_per_s'] / 1e6:.2f} M tok/s).")
    return ScenarioResult(spec, head, summary, {}, skipped)


# ---- 5. latency bought with chips: per-user speed against cost ---------------------------------
def run_latency_vs_cost(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    from .frontier import frontier_points

    pts, skipped = frontier_points(lib, spec.model, _chips(lib, spec), _workload(spec), spec.weight_dtype,
                                   spec.kv_dtype, lib.budget(spec.budget), spec.price_basis,
                                   batches=tuple(spec.batches) or BATCHES, progress=progress)
    frontier = _pareto(pts)
    head_rows = []
    for cid, g in pts.groupby("chip", sort=False):
        fastest = g.loc[g["user_tokens_per_s"].idxmax()]
        cheapest = g.loc[g["usd_per_mtok"].idxmin()]
        head_rows.append({"chip": cid, "chip_kind": fastest["chip_kind"],
                          "fastest_user_tokens_per_s": fastest["user_tokens_per_s"],
                          "fastest_num_chips": fastest["num_chips"], "usd_per_mtok_at_fastest": fastest["usd_per_mtok"],
                          "cheapest_usd_per_mtok": cheapest["usd_per_mtok"],
                          "user_tokens_per_s_at_cheapest": cheapest["user_tokens_per_s"]})
    head = pd.DataFrame(head_rows).sort_values("fastest_user_tokens_per_s", ascending=False).reset_index(drop=True)
    f, c = head.iloc[0], head.sort_values("cheapest_usd_per_mtok").iloc[0]
    summary = (f"fastest per user: {f['chip']} at {f['fastest_user_tokens_per_s']:.0f} tok/s on {f['fastest_num_chips']:.0f} "
               f"chips (${f['usd_per_mtok_at_fastest']:.2f}/M); cheapest: {c['chip']} at ${c['cheapest_usd_per_mtok']:.3f}/M "
               f"({c['user_tokens_per_s_at_cheapest']:.0f} tok/s per user).")
    return ScenarioResult(spec, head, summary, {"points": pts, "frontier": frontier}, skipped)


def _pareto(points: pd.DataFrame) -> pd.DataFrame:
    """Points no other point beats on both user speed (higher) and $/M tokens (lower)."""
    from .frontier import pareto

    return pareto(points, "usd_per_mtok", True)


# ---- 6. request rate: where CPU-only serving is cheapest ----------------------------------------
def run_request_rate(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    """At a low request rate a deployment idles but is paid for by the hour: the smallest
    deployment of each chip, replicated as the rate grows."""
    deps, skipped = _deploy_all(lib, spec, _chips(lib, spec), progress, smallest=True)
    rows = []
    for d in deps:
        capacity_rps = d.result.system_tokens_per_s / spec.output_len   # requests/s one deployment serves
        unit_usd_h = d.result.mapping.chips * d.usd_per_chip_hour
        for rate in spec.request_rates_per_s:
            units = max(1, math.ceil(rate / capacity_rps))
            tokens_h = rate * spec.output_len * 3600.0
            rows.append({"chip": d.chip_id, "chip_kind": d.kind, "request_rate_per_s": rate, "deployments": units,
                         "chips": units * d.result.mapping.chips, "usd_per_hour": units * unit_usd_h,
                         "utilisation": rate / (units * capacity_rps), "usd_per_mtok": units * unit_usd_h / tokens_h * 1e6})
    pts = pd.DataFrame(rows)
    head_rows = []
    for rate, g in pts.groupby("request_rate_per_s"):
        row = {"request_rate_per_s": rate, "cheapest": g.loc[g["usd_per_mtok"].idxmin(), "chip"]}
        for kind in ("cpu", "gpu", "asic"):
            k = g[g["chip_kind"] == kind]
            if len(k):
                best = k.loc[k["usd_per_mtok"].idxmin()]
                row[f"best_{kind}"] = best["chip"]
                row[f"best_{kind}_usd_per_mtok"] = best["usd_per_mtok"]
        head_rows.append(row)
    head = pd.DataFrame(head_rows)
    parts = []
    for other in ("gpu", "asic"):
        if "best_cpu_usd_per_mtok" in head and f"best_{other}_usd_per_mtok" in head:
            wins = head[head["best_cpu_usd_per_mtok"] < head[f"best_{other}_usd_per_mtok"]]["request_rate_per_s"]
            parts.append(f"the cheapest CPU beats every {other.upper()} " + _rates_phrase(list(wins), list(head["request_rate_per_s"])))
    summary = ("; ".join(parts) + f" (smallest deployments, replicated; {spec.model}, "
               f"{spec.input_len}+{spec.output_len} tokens).") if parts else "no CPU in this scenario."
    return ScenarioResult(spec, head, summary, {"points": pts}, skipped)


def _rates_phrase(wins: list[float], rates: list[float]) -> str:
    """'up to X requests/s' when the wins are the lowest rates, else the rates themselves."""
    if not wins:
        return "at no rate tried"
    if wins == sorted(rates)[: len(wins)]:
        return f"up to {max(wins):g} requests/s"
    return "only at " + ", ".join(f"{w:g}" for w in wins) + " requests/s"


# ---- 7. tiered serving: classes of requests on tiers of chips ------------------------------------
def run_tiered(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    """Each class on its own tier, sized for its rate at its traffic's p99 targets. An agent class's
    reused prefix is loaded from the chip's host-memory tier when it has one, else prefilled again."""
    from ..kernels.operators import kv_bytes_per_seq_nb
    from ..model.mapping import _mappings, chip_counts
    from ..model.serving import best_goodput

    arch = lib.architecture(spec.model)
    budget = lib.budget(spec.budget)
    rows, skipped = [], []
    for i, c in enumerate(spec.classes):
        if progress:
            progress(i, len(spec.classes), c.name)
        chip = lib.chip(c.chip)
        t = lib.traffic(c.traffic)
        ttft_target = c.max_ttft_ms / 1e3 if c.max_ttft_ms else t.ttft_target_s
        tpot_target = c.max_tpot_ms / 1e3 if c.max_tpot_ms else t.tpot_target_s
        precision = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
        inputs, options, tier = t.input, {}, "-"
        if c.reused_prefix_tokens:
            host = chip.memory.host
            if host is not None:
                kv = kv_bytes_per_seq_nb(pack_architecture(arch), c.reused_prefix_tokens, precision.kv_bytes)
                options = {"prefix_tokens": c.reused_prefix_tokens, "prefix_load_s": kv / host.bandwidth_bytes_per_s}
                tier = f"host {host.technology}: prefix KV loaded in {options['prefix_load_s'] * 1e3:.1f} ms"
            else:
                inputs = inputs.model_copy(update={"mean_tokens": inputs.mean_tokens + c.reused_prefix_tokens})
                tier = "no host tier: prefix prefilled again"
        w = Workload(max(1, round(inputs.mean_tokens + c.reused_prefix_tokens * bool(options))),
                     max(1, round(t.output.mean_tokens)))
        try:
            need, _ = min_chips_to_fit(chip, arch, precision, w)
            maps = [m for n in chip_counts(chip, need, None) for m in _mappings(chip, arch, n, need)]
            g = best_goodput(chip, arch, precision, maps, inputs, t.output, ttft_target, tpot_target,
                             for_rate_per_s=c.rate_per_s, **options)
        except InfersimError as exc:
            skipped.append((c.name, str(exc)))
            continue
        instances = math.ceil(c.rate_per_s / g.rate_per_s)
        at = g.model.at_rate(c.rate_per_s / instances * g.mapping.replicas)
        chips = instances * g.mapping.chips
        usd_h = chips * chip_hour_cost(chip, budget, spec.price_basis).total_usd_per_hour
        tokens_h = c.rate_per_s * t.output.mean_tokens * 3600.0
        rows.append({"class": c.name, "chip": c.chip, "rate_per_s": c.rate_per_s, "chips": chips,
                     "mapping": g.mapping.label, "ttft_p99_s": at.ttft_p99_s, "tpot_p99_s": at.tpot_p99_s,
                     "ttft_target_s": ttft_target, "tpot_target_s": tpot_target, "kv_tier": tier,
                     "usd_per_hour": usd_h, "usd_per_mtok": usd_h / tokens_h * 1e6,
                     "_tokens_h": tokens_h})
    head = pd.DataFrame(rows)
    if head.empty:
        raise InfersimError("no class could be served: " + "; ".join(f"{n}: {w}" for n, w in skipped))
    total_usd, total_tok = head["usd_per_hour"].sum(), head.pop("_tokens_h").sum()
    summary = (f"{len(head)} classes on {head['chips'].sum():.0f} chips cost ${total_usd:,.0f}/h, a blended "
               f"${total_usd / total_tok * 1e6:.3f}/M output tokens; per class from "
               f"${head['usd_per_mtok'].min():.3f}/M ({head.loc[head['usd_per_mtok'].idxmin(), 'class']}) to "
               f"${head['usd_per_mtok'].max():.3f}/M ({head.loc[head['usd_per_mtok'].idxmax(), 'class']}).")
    return ScenarioResult(spec, head, summary, {}, skipped)


RUNNERS: dict[str, Callable[..., ScenarioResult]] = {
    "pairwise_advantage": run_pairwise_advantage, "elasticity": run_elasticity, "budget_shock": run_budget_shock,
    "power_limited": run_power_limited, "latency_vs_cost": run_latency_vs_cost, "request_rate": run_request_rate,
    "tiered": run_tiered,
}


def run_scenario(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    return RUNNERS[spec.kind](lib, spec, progress)
