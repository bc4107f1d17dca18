"""Co-located against disaggregated (and heterogeneous) serving on $ per million tokens at the
same p99 targets."""

from __future__ import annotations

import pandas as pd

from ..cost.inputs import PriceBasis
from ..cost.tco import chip_hour_cost
from ..errors import InfersimError
from ..model.configuration import Workload, resolve_precision
from ..model.mapping_search import candidate_mappings, chip_counts, min_chips_to_fit
from ..model.pools import best_pool, decode_capacity, kv_transfer_s, prefill_capacity
from ..model.serving import best_goodput
from ..specs.budget import BudgetSpec
from ..specs.library import Library
from ..specs.traffic import LengthDistribution


def _usd_per_mtok(usd_per_hour_per_rate: float, output_tokens: float) -> float:
    """$/M output tokens from the $/hour it takes to serve 1 request/s."""
    return usd_per_hour_per_rate / (output_tokens * 3600.0) * 1e6


def compare_serving(lib: Library, model: str, prefill_chips: list[str], decode_chips: list[str],
                    inputs: LengthDistribution, outputs: LengthDistribution, weight_dtype: str, kv_dtype: str,
                    max_ttft_s: float, max_tpot_s: float, budget: BudgetSpec, price_basis: PriceBasis = "owner",
                    progress=None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    arch = lib.architecture(model)
    w = Workload(max(1, round(inputs.mean_tokens)), max(1, round(outputs.mean_tokens)))
    rows, skipped = [], []
    prec, cost, maps = {}, {}, {}
    for cid in dict.fromkeys(prefill_chips + decode_chips):
        chip = lib.chip(cid)
        try:
            prec[cid] = resolve_precision(chip, weight_dtype, kv_dtype)
            cost[cid] = chip_hour_cost(chip, budget, price_basis, lib.platform_of(chip)).total_usd_per_hour
            need, _ = min_chips_to_fit(chip, arch, prec[cid], w)
            maps[cid] = [m for n in chip_counts(chip, need, None, arch.is_moe) for m in candidate_mappings(chip, arch, n, need)]
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
    o = outputs.mean_tokens
    for i, cid in enumerate(c for c in dict.fromkeys(prefill_chips + decode_chips) if c in prec):
        if progress:
            progress(i, len(prec), cid)
        try:
            g = best_goodput(lib.chip(cid), arch, prec[cid], maps[cid], inputs, outputs, max_ttft_s, max_tpot_s)
        except InfersimError as exc:
            skipped.append((f"co-located {cid}", str(exc)))
            continue
        rows.append({"serving": "co-located", "prefill_chip": cid, "decode_chip": cid,
                     "prefill_mapping": g.mapping.label, "decode_mapping": g.mapping.label,
                     "chips_per_request_per_s": g.mapping.chips / g.rate_per_s,
                     "prefill_share_of_chips": float("nan"), "ttft_p99_s": g.at_goodput.ttft_p99_s,
                     "tpot_p99_s": g.at_goodput.tpot_p99_s,
                     "usd_per_mtok": _usd_per_mtok(g.mapping.chips * cost[cid] / g.rate_per_s, o)})
    for p in (c for c in prefill_chips if c in prec):
        for d in (c for c in decode_chips if c in prec):
            chip_p, chip_d = lib.chip(p), lib.chip(d)
            transfer = kv_transfer_s(arch, prec[d], inputs.mean_tokens, chip_p, chip_d)
            try:
                pool_p = best_pool([prefill_capacity(chip_p, arch, prec[p], m, inputs, max_ttft_s, transfer)
                                    for m in maps[p]])
                pool_d = best_pool([decode_capacity(chip_d, arch, prec[d], m, inputs, outputs, max_tpot_s)
                                    for m in maps[d]])
            except InfersimError as exc:
                skipped.append((f"{p} -> {d}", str(exc)))
                continue
            chips_p = pool_p.mapping.chips / pool_p.rate_per_s        # prefill chips per request/s
            chips_d = pool_d.mapping.chips / pool_d.rate_per_s
            usd = chips_p * cost[p] + chips_d * cost[d]
            rows.append({"serving": "disaggregated", "prefill_chip": p, "decode_chip": d,
                         "prefill_mapping": pool_p.mapping.label, "decode_mapping": pool_d.mapping.label,
                         "chips_per_request_per_s": chips_p + chips_d,
                         "prefill_share_of_chips": chips_p / (chips_p + chips_d), "ttft_p99_s": pool_p.ttft_p99_s,
                         "tpot_p99_s": pool_d.tpot_p99_s, "kv_transfer_s": transfer,
                         "usd_per_mtok": _usd_per_mtok(usd, o)})
    table = pd.DataFrame(rows)
    if table.empty:
        raise InfersimError("no configuration meets the targets: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    return table.sort_values("usd_per_mtok").reset_index(drop=True), skipped


# ---- a closed loop of users (--concurrency) ------------------------------------------------------

MAX_INSTANCES = 256   # the largest pool (instances of one mapping) the sizing tries


def _smallest(count_ok, hi: int = MAX_INSTANCES) -> int | None:
    """The smallest n in 1..hi with count_ok(n) (count_ok grows with n), by bisection; None if none."""
    if not count_ok(hi):
        return None
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if count_ok(mid) else (mid, hi)
    return hi


def _fewest_meeting(run, meets):
    """(the fewest instances n in 1..MAX_INSTANCES whose run(n) meets the targets, that run), or
    (None, None). run(n) is None when n instances have no steady state; each n is run once."""
    runs = {}

    def ok(k: int) -> bool:
        runs[k] = run(k)
        return runs[k] is not None and meets(runs[k])

    n = _smallest(ok)
    return (n, runs[n]) if n is not None else (None, None)


def compare_serving_closed_loop(lib: Library, model: str, prefill_chips: list[str], decode_chips: list[str],
                                inputs: LengthDistribution, outputs: LengthDistribution, weight_dtype: str,
                                kv_dtype: str, concurrency: int, max_ttft_s: float, max_tpot_s: float,
                                budget: BudgetSpec, price_basis: PriceBasis = "owner",
                                progress=None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Co-located and disaggregated deployments each sized for a closed loop of `concurrency` users:
    the fewest instances whose loop meets the mean TTFT and TPOT targets, and its $/M output tokens.

    Co-located: per mapping of one replica (tp x pp x ep of the default chip-count search), the fewest
    replicas that meet both targets. Disaggregated: prefill instances are the smallest tensor-parallel
    group that holds the model; per decode mapping, the fewest decode instances whose TPOT meets its
    target with all `concurrency` requests decoding, then the fewest prefill instances whose loop
    meets the TTFT target (KV transfer included)."""
    from dataclasses import replace

    from ..model.deployment import smallest_deployment
    from ..model.pools import DisaggDeployment
    from ..model.serving import ServingModel, closed_loop

    arch = lib.architecture(model)
    w = Workload(max(1, round(inputs.mean_tokens)), max(1, round(outputs.mean_tokens)))
    rows, skipped, prec, cost, singles = [], [], {}, {}, {}
    for cid in dict.fromkeys(prefill_chips + decode_chips):
        chip = lib.chip(cid)
        try:
            prec[cid] = resolve_precision(chip, weight_dtype, kv_dtype)
            cost[cid] = chip_hour_cost(chip, budget, price_basis, lib.platform_of(chip)).total_usd_per_hour
            need, _ = min_chips_to_fit(chip, arch, prec[cid], w)
            singles[cid] = list(dict.fromkeys(replace(m, replicas=1) for n in chip_counts(chip, need, None)
                                              for m in candidate_mappings(chip, arch, n, need)))
        except InfersimError as exc:
            skipped.append((cid, str(exc)))

    def meets(r) -> bool:
        return r.ttft_mean_s <= max_ttft_s and r.tpot_mean_s <= max_tpot_s

    def record(serving, p, d, pm, dm, chips, r, usd_per_hour):
        return {"serving": serving, "prefill_chip": p, "decode_chip": d, "prefill_mapping": pm, "decode_mapping": dm,
                "chips": chips, "concurrency": concurrency, "ttft_mean_s": r.ttft_mean_s, "tpot_mean_s": r.tpot_mean_s,
                "output_tokens_per_s": r.output_tokens_per_s, "requests_per_s": r.request_rate_per_s,
                "usd_per_mtok": usd_per_hour / (r.output_tokens_per_s * 3600.0) * 1e6}

    for i, cid in enumerate(c for c in dict.fromkeys(prefill_chips + decode_chips) if c in prec):
        if progress:
            progress(i, len(prec), cid)
        chip, best = lib.chip(cid), None
        for m in singles[cid]:
            def loop(n, m=m):
                model = ServingModel(chip, arch, prec[cid], replace(m, replicas=n), inputs, outputs)
                try:
                    return closed_loop(model, concurrency) if model.max_batch >= 1 else None
                except InfersimError:
                    return None

            n, r = _fewest_meeting(loop, meets)
            if n is None:
                continue
            rec = record("co-located", cid, cid, f"{m.label} x{n}", f"{m.label} x{n}", n * m.chips, r,
                         n * m.chips * cost[cid])
            best = rec if best is None or rec["usd_per_mtok"] < best["usd_per_mtok"] else best
        if best is None:
            skipped.append((f"co-located {cid}", f"no deployment of up to {MAX_INSTANCES} replicas meets the targets "
                                                 f"at concurrency {concurrency}"))
        else:
            rows.append(best)
    for p in (c for c in prefill_chips if c in prec):
        chip_p = lib.chip(p)
        try:
            pm = smallest_deployment(chip_p, arch, prec[p], w)
        except InfersimError as exc:
            skipped.append((f"{p} prefill", str(exc)))
            continue
        for d in (c for c in decode_chips if c in prec):
            chip_d, best = lib.chip(d), None
            for dm in singles[d]:
                one = ServingModel(chip_d, arch, prec[d], dm, inputs, outputs)
                if one.max_batch < 1:
                    continue
                n_d = _smallest(lambda k: concurrency / k <= one.max_batch and
                                one.iteration_s(concurrency / k, 0.0) <= max_tpot_s)
                if n_d is None:
                    continue

                def deploy(n_p, dm=dm, n_d=n_d):
                    pre = ServingModel(chip_p, arch, prec[p], replace(pm, replicas=n_p), inputs,
                                       LengthDistribution(mean_tokens=1.0))
                    dec = ServingModel(chip_d, arch, prec[d], replace(dm, replicas=n_d), inputs, outputs)
                    try:
                        return DisaggDeployment(pre, dec, arch, prec[d]).closed_loop(concurrency)
                    except InfersimError:
                        return None

                n_p, r = _fewest_meeting(deploy, meets)
                if n_p is None:
                    continue
                chips = n_p * pm.chips + n_d * dm.chips
                rec = record("disaggregated", p, d, f"{pm.label} x{n_p}", f"{dm.label} x{n_d}", chips, r,
                             n_p * pm.chips * cost[p] + n_d * dm.chips * cost[d])
                best = rec if best is None or rec["usd_per_mtok"] < best["usd_per_mtok"] else best
            if best is None:
                skipped.append((f"{p} -> {d}", f"no pools of up to {MAX_INSTANCES} instances meet the targets at "
                                               f"concurrency {concurrency}"))
            else:
                rows.append(best)
    table = pd.DataFrame(rows)
    if table.empty:
        raise InfersimError("no configuration meets the targets: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    return table.sort_values("usd_per_mtok").reset_index(drop=True), skipped
