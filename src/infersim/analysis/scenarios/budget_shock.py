"""Scenario kind `budget_shock`: $/M tokens under one budget against another (e.g. an HBM price shock)."""

from __future__ import annotations

import pandas as pd

from ...cost.inputs import chip_cost_row
from ...errors import InfersimError
from ...kernels import layout as L
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, deploy, scenario_chips


def run_budget_shock(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    rows, skipped = [], []
    ids = scenario_chips(lib, spec)
    for i, cid in enumerate(ids):
        if progress:
            progress(i, len(ids), cid)
        try:
            base = deploy(lib, spec, cid)
            shock = deploy(lib, spec, cid, budget_id=spec.alt_budget)
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
            continue
        chip = lib.chip(cid)
        row = chip_cost_row(chip, lib.platform_of(chip), spec.price_basis).row
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
