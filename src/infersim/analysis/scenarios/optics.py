"""Scenario kind `optics`: optical modules per accelerator and their share of the chip-hour, by platform,
cluster size and fabric generation (800G against 1.6T), from the fat tree the budget's network sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...cost.inputs import budget_ranges, budget_row, chip_cost_row, with_fabric
from ...kernels import layout as L
from ...kernels.chip_cost import chip_hour_cost_nb, fat_tree_nb
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .deploy import ScenarioResult, scenario_chips

NVIDIA_MODULES_PER_GPU = 6.0   # "six transceivers per GPU" (central-2025 [S13]), the figure checked here


def run_optics(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    base = lib.budget(spec.budget)
    ids = scenario_chips(lib, spec)
    rows = []
    for i, cid in enumerate(ids):
        if progress:
            progress(i, len(ids), cid)
        chip = lib.chip(cid)
        plat = lib.platform_of(chip)
        cr = chip_cost_row(chip, plat, "owner")
        for fabric in spec.fabrics:
            budget = with_fabric(base, fabric)
            for n in spec.cluster_chips:
                b = budget_row(budget)
                b[L.B_CLUSTER_CHIPS] = n
                comp = np.zeros(L.CC_FIELDS)
                chip_hour_cost_nb(cr.row, b, comp)
                tiers, switches, ports, so_modules, optics_usd, _, sw_usd, _ = fat_tree_nb(
                    cr.row[L.P_NIC_GBPS], n, b[L.B_SWITCH_GBPS], b[L.B_SWITCH_USD], b[L.B_SWITCH_W],
                    b[L.B_MODULE_GBPS], b[L.B_MODULE_USD], b[L.B_MODULE_W], b[L.B_NIC_LEAF_OPTICAL])
                ranges = budget_ranges(budget)
                ranges[L.B_CLUSTER_CHIPS] = n     # the cluster is the axis here, not drawn
                share_draws = _optics_share_draws(cr, ranges, spec)
                p10, p90 = np.percentile(share_draws, [10, 90])
                rows.append({
                    "chip": cid, "platform": plat.id, "fabric": fabric, "cluster_chips": int(n),
                    "nic_gbps": cr.row[L.P_NIC_GBPS], "module_gbps": b[L.B_MODULE_GBPS], "tiers": int(tiers),
                    "switch_ports_per_chip": ports, "switches_per_chip": switches,
                    "scaleout_modules_per_chip": so_modules, "scaleup_modules_per_chip": cr.row[L.P_SCALEUP_MODULES],
                    "modules_per_chip": comp[L.CC_MODULES],
                    "single_port_modules_per_chip": 2.0 * tiers + cr.row[L.P_SCALEUP_MODULES] if ports else 0.0,
                    "optics_usd_per_chip": optics_usd + cr.row[L.P_SCALEUP_MODULES] * cr.row[L.P_SCALEUP_MODULE_USD],
                    "switch_usd_per_chip": sw_usd, "usd_per_chip_hour": comp[L.CC_TOTAL],
                    "optics_share_of_tco": comp[L.CC_OPTICS] / comp[L.CC_TOTAL],
                    "optics_share_p10": p10, "optics_share_p90": p90,
                    "network_share_of_tco": (comp[L.CC_NETWORK] + comp[L.CC_SCALEUP]) / comp[L.CC_TOTAL],
                })
    table = pd.DataFrame(rows)
    head = _headline(table, spec)
    six = table[np.isclose(table["scaleout_modules_per_chip"], NVIDIA_MODULES_PER_GPU)]
    summary = (f"modules per accelerator from {table['modules_per_chip'].min():.2f} to "
               f"{table['modules_per_chip'].max():.2f} (scale-out {table['scaleout_modules_per_chip'].min():.2f} to "
               f"{table['scaleout_modules_per_chip'].max():.2f}); NVIDIA's ~6 per GPU is a 3-tier fabric whose NIC "
               f"port runs at the module's speed, all optical (here {len(six)} of {len(table)} rows: "
               + (", ".join(sorted({f'{r.chip} at {r.cluster_chips:,}' for r in six.itertuples()})[:6]) or "none")
               + f"); optics take {table['optics_share_of_tco'].min():.1%} to {table['optics_share_of_tco'].max():.1%} "
               f"of an owner's chip-hour (median {table['optics_share_of_tco'].median():.1%}); 1.6T modules halve the "
               f"switch-side count of an 800G NIC but cost "
               + _ratio_text(table) + ".")
    return ScenarioResult(spec, head, summary, {"points": table}, [])


def _optics_share_draws(cr, ranges: np.ndarray, spec: ScenarioSpec, n_max: int = 2000) -> np.ndarray:
    """Optics' share of the chip-hour in each Monte Carlo draw of the budget's and platform's ranges."""
    from ...cost.tco import shared_uniforms, triangular_ppf

    rng = np.random.default_rng(spec.seed)
    n = min(spec.samples, n_max)
    u_b = rng.random((n, L.B_FIELDS))
    u_c = shared_uniforms([cr], n, rng)
    budgets = np.stack([triangular_ppf(u_b[:, k], *ranges[k]) for k in range(L.B_FIELDS)], axis=1)
    rows = np.stack([triangular_ppf(u_c[:, 0, j], *cr.ranges[j]) if cr.ranges[j, 2] > cr.ranges[j, 0]
                     else np.full(n, cr.row[j]) for j in range(L.P_FIELDS)], axis=1)
    comp = np.zeros(L.CC_FIELDS)
    out = np.empty(n)
    for k in range(n):
        chip_hour_cost_nb(rows[k], budgets[k], comp)
        out[k] = comp[L.CC_OPTICS] / comp[L.CC_TOTAL]
    return out


def _headline(table: pd.DataFrame, spec: ScenarioSpec) -> pd.DataFrame:
    keys = ["chip", "cluster_chips"]
    out = table[keys].drop_duplicates().reset_index(drop=True)
    idx = pd.MultiIndex.from_frame(out[keys])
    for fabric in spec.fabrics:
        sub = table[table["fabric"] == fabric].set_index(keys)
        out[f"tiers_{fabric}"] = sub["tiers"].reindex(idx).to_numpy()
        out[f"modules_{fabric}"] = sub["modules_per_chip"].reindex(idx).to_numpy()
        out[f"optics_share_{fabric}"] = sub["optics_share_of_tco"].reindex(idx).to_numpy()
    return out


def _ratio_text(table: pd.DataFrame) -> str:
    a = table[table["fabric"] == "800g-contract-2026"].set_index(["chip", "cluster_chips"])["optics_usd_per_chip"]
    b = table[table["fabric"] == "1600g-contract-2026"].set_index(["chip", "cluster_chips"])["optics_usd_per_chip"]
    both = pd.concat([a, b], axis=1, keys=["a", "b"]).dropna()
    both = both[both["a"] > 0]
    if both.empty:
        return "(no 800G/1.6T contract-price pair in this run)"
    r = both["b"] / both["a"]
    return f"{r.min():.2f}x to {r.max():.2f}x the optics dollars of 800G at 2026 contract prices"
