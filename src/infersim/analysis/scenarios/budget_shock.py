"""Scenario kind `budget_shock`: $/M tokens under one budget against another (e.g. an HBM price shock).

An HBM price change reaches a chip's price in one of three ways, reported side by side: absorbed by
the seller (no change), passed through at cost (the seller's HBM bill moves by capacity x the change
in $/GB), or marked up by the seller's gross margin (the same bill / (1 - margin), what pricing the
chip from its bill of materials does; an upper bound). A chip priced at market moves at cost only
(its spec gives no margin to mark up by).
"""

from __future__ import annotations

import pandas as pd

from ...cost.inputs import HBM_GENERATIONS, budget_row, chip_cost_row
from ...cost.tco import chip_hour_cost
from ...errors import InfersimError
from ...kernels import layout as L
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, deploy, require_results, scenario_chips

PASS_THROUGH = ("absorbed", "at_cost", "marked_up")


def hbm_generation_of(chip) -> str | None:
    """The chip's HBM generation: its [price.bom] one, else read from its memory technology."""
    if chip.price.bom is not None and chip.price.bom.hbm_generation:
        return chip.price.bom.hbm_generation
    off = chip.memory.offchip
    tech = off.technology.lower().replace(" ", "") if off is not None else ""
    for gen in sorted(HBM_GENERATIONS, key=len, reverse=True):
        if tech.startswith(gen):
            return gen
    return None


def run_budget_shock(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    rows, skipped = [], []
    ids = scenario_chips(lib, spec)
    base_b, alt_b = lib.budget(spec.budget), lib.budget(spec.alt_budget)
    base_row, alt_row = budget_row(base_b), budget_row(alt_b)
    for i, cid in enumerate(ids):
        if progress:
            progress(i, len(ids), cid)
        try:
            d = deploy(lib, spec, cid)
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        chip = lib.chip(cid)
        plat = lib.platform_of(chip)
        cr = chip_cost_row(chip, plat, spec.price_basis)
        gen = hbm_generation_of(chip)
        off = chip.memory.offchip
        gb = off.capacity_bytes / 1e9 if (gen and off is not None) else 0.0
        k = L.B_HBM2 + HBM_GENERATIONS.index(gen) if gen else None
        delta_gb = (alt_row[k] - base_row[k]) if k is not None else 0.0
        delta = gb * delta_gb                                   # the seller's HBM bill, $ per chip
        bom = cr.row[L.P_BOM] == 1.0
        margin = cr.row[L.P_MARGIN] if bom else None
        base_cost = chip_hour_cost(chip, base_b, spec.price_basis, plat)
        price = base_cost.chip_price_usd
        rec = {"chip": cid, "chip_kind": d.kind, "priced_from": "bom" if bom else "market", "hbm_generation": gen or "-",
               "hbm_gb": gb, "hbm_usd_per_gb_delta": delta_gb, "hbm_bill_delta_usd": delta,
               "seller_margin": margin, "chip_price_usd": price, "usd_per_mtok": d.usd_per_mtok}
        for how, add in (("at_cost", delta), ("marked_up", delta / (1.0 - margin) if bom else None)):
            if add is None:
                rec[f"chip_price_change_{how}"] = rec[f"usd_per_mtok_change_{how}"] = float("nan")
                continue
            row = cr.row.copy()
            row[L.P_BOM], row[L.P_MARKET_USD] = 0.0, price + add
            shocked = chip_hour_cost(chip, base_b, spec.price_basis, plat, row=row)
            rec[f"chip_price_change_{how}"] = add / price
            rec[f"usd_per_mtok_change_{how}"] = shocked.total_usd_per_hour / base_cost.total_usd_per_hour - 1.0
        rows.append(rec)
    require_results(spec, rows, skipped)
    head = pd.DataFrame(rows).sort_values("usd_per_mtok_change_at_cost", ascending=False).reset_index(drop=True)
    moved = head[head["hbm_bill_delta_usd"] > 0]
    if moved.empty:
        summary = f"{spec.alt_budget} vs {spec.budget}: no chip's HBM price changed."
    else:
        mk = moved.dropna(subset=["usd_per_mtok_change_marked_up"])
        summary = (f"{spec.alt_budget} vs {spec.budget}, pass-through reported as a range: absorbed by the seller, 0 %; "
                   f"at cost, chip price +{moved['chip_price_change_at_cost'].min():.1%} to "
                   f"+{moved['chip_price_change_at_cost'].max():.1%} and $/M tokens "
                   f"+{moved['usd_per_mtok_change_at_cost'].min():.1%} to +{moved['usd_per_mtok_change_at_cost'].max():.1%} "
                   f"for the {len(moved)} chips whose HBM moved"
                   + (f"; marked up by the seller's margin (an upper bound, BOM-priced chips only), chip price "
                      f"+{mk['chip_price_change_marked_up'].min():.1%} to +{mk['chip_price_change_marked_up'].max():.1%} "
                      f"and $/M tokens +{mk['usd_per_mtok_change_marked_up'].min():.1%} to "
                      f"+{mk['usd_per_mtok_change_marked_up'].max():.1%} (largest: "
                      f"{mk.sort_values('usd_per_mtok_change_marked_up').iloc[-1]['chip']})" if len(mk) else "")
                   + "; chips of other HBM generations do not move.")
    return ScenarioResult(spec, head, summary, {}, skipped)
