"""Figures of the scenario runners, one per kind."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

KIND_COLORS = {"gpu": "tab:green", "asic": "tab:blue", "lpu_sram": "tab:purple", "wafer_scale": "tab:red",
               "cpu": "tab:gray"}


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def advantage_bands(head: pd.DataFrame, claim: tuple[float, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(head) + 1.5), dpi=110)
    labels = [f"{r.asic} vs {r.gpu}" for r in head.itertuples()]
    y = np.arange(len(head))
    ax.axvspan(100 * claim[0], 100 * claim[1], color="gold", alpha=0.3, label=f"claimed {claim[0]:.0%}-{claim[1]:.0%}")
    ax.hlines(y, 100 * head["advantage_p10"], 100 * head["advantage_p90"], color="k", lw=2, label="P10-P90")
    ax.plot(100 * head["advantage_p50"], y, "o", color="tab:blue", label="P50")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("ASIC advantage in $ per million output tokens (%)  [1 - ASIC / GPU]")
    ax.legend(fontsize=7, loc="lower right")
    ax.invert_yaxis()
    return _save(fig, path)


def bars(df: pd.DataFrame, value: str, label: str, path: Path, log: bool = False, pct: bool = False) -> Path:
    d = df.sort_values(value, ascending=True)
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(d) + 1.5), dpi=110)
    vals = d[value] * (100 if pct else 1)
    ax.barh(d["chip"], vals, color=[KIND_COLORS.get(k, "k") for k in d["chip_kind"]])
    ax.set_xlabel(label)
    if log:
        ax.set_xscale("log")
    ax.tick_params(axis="y", labelsize=7)
    for kind, color in KIND_COLORS.items():
        if kind in set(d["chip_kind"]):
            ax.barh([], [], color=color, label=kind)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def elasticities(df: pd.DataFrame, path: Path) -> Path:
    d = df.sort_values("elasticity_tpot_to_bandwidth")
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(d) + 1.5), dpi=110)
    y = np.arange(len(d))
    for off, col, lab in ((-0.3, "elasticity_tpot_to_bandwidth", "TPOT vs bandwidth"),
                          (-0.1, "elasticity_tpot_to_flops", "TPOT vs FLOP/s"),
                          (0.1, "elasticity_ttft_to_bandwidth", "TTFT vs bandwidth"),
                          (0.3, "elasticity_ttft_to_flops", "TTFT vs FLOP/s")):
        ax.barh(y + off, d[col], height=0.2, label=lab)
    ax.set_yticks(y, d["chip"], fontsize=7)
    ax.axvline(-1, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("elasticity (d ln time / d ln resource); -1 = fully bound by that resource")
    ax.legend(fontsize=7)
    return _save(fig, path)


def latency_cost(points: pd.DataFrame, path: Path) -> Path:
    """$/M tokens against tokens/s per user; one colour per chip, one line per mapping (batch grows
    along the line, from fast and dear to slow and cheap)."""
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    chips = list(dict.fromkeys(points["chip"]))
    colors = dict(zip(chips, plt.cm.tab10(np.linspace(0, 1, 10))[: len(chips)] if len(chips) <= 10
                      else plt.cm.tab20(np.linspace(0, 1, len(chips)))))
    for chip in chips:
        for n, (mapping, g) in enumerate(points[points["chip"] == chip].groupby("mapping", sort=False)):
            g = g.sort_values("user_tokens_per_s")
            ax.plot(g["user_tokens_per_s"], g["usd_per_mtok"], marker="o", ms=3, lw=1.2, color=colors[chip],
                    ls="-" if n == 0 else "--", label=f"{chip}: {mapping} ({g['num_chips'].iloc[0]} chips)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("output tokens/s per user")
    ax.set_ylabel("$ per million output tokens")
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=6, loc="upper left", ncol=1)
    return _save(fig, path)


def rate_curves(points: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    for chip, g in points.groupby("chip", sort=False):
        g = g.sort_values("request_rate_per_s")
        ax.plot(g["request_rate_per_s"], g["usd_per_mtok"], "-", lw=1.2,
                color=KIND_COLORS.get(g["chip_kind"].iloc[0], "k"), label=chip)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("requests per second")
    ax.set_ylabel("$ per million output tokens (smallest deployment, replicated)")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    return _save(fig, path)


def tornado_chart(df: pd.DataFrame, label: str, path: Path, top: int = 12) -> Path:
    d = df.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(d) + 1.5), dpi=110)
    base = d["central_metric"].iloc[0]
    y = np.arange(len(d))
    ax.barh(y, d["metric_at_low"] - base, left=base, color="tab:blue", label="input at its low")
    ax.barh(y, d["metric_at_high"] - base, left=base, color="tab:orange", label="input at its high")
    ax.set_yticks(y, d["input"], fontsize=7)
    ax.axvline(base, color="k", lw=0.8)
    ax.set_xlabel(label)
    ax.legend(fontsize=7)
    return _save(fig, path)


def frontier_figure(points: pd.DataFrame, title: str, path: Path) -> Path:
    """Two panels against tokens/s per user: tokens/s per chip (higher is better) and $/M tokens
    (lower is better); faint dots are every (mapping, batch), lines each chip's Pareto frontier."""
    from ..analysis.frontier import per_chip_frontiers

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110)
    chips = list(dict.fromkeys(points["chip"]))
    colors = dict(zip(chips, plt.cm.tab10(np.linspace(0, 1, 10))[: len(chips)] if len(chips) <= 10
                      else plt.cm.tab20(np.linspace(0, 1, len(chips)))))
    panels = (("tokens_per_s_per_chip", False, "output tokens/s per chip"),
              ("usd_per_mtok", True, "$ per million output tokens"))
    for ax, (y, lower, label) in zip(axes, panels):
        if points[y].isna().all():
            ax.set_visible(False)
            continue
        front = per_chip_frontiers(points, y, lower)
        for chip in chips:
            pts = points[points["chip"] == chip]
            ax.scatter(pts["user_tokens_per_s"], pts[y], s=6, color=colors[chip], alpha=0.25)
            f = front[front["chip"] == chip].sort_values("user_tokens_per_s")
            ax.plot(f["user_tokens_per_s"], f[y], "-o", ms=3, color=colors[chip], label=chip)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("output tokens/s per user")
        ax.set_ylabel(label)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def heatmap(table: pd.DataFrame, x: str, y: str, value: str, title: str, path: Path) -> Path:
    """The best (lowest) `value` for each (x, y) cell of a sweep's kept points."""
    grid = table.groupby([y, x])[value].min().unstack(x)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    im = ax.imshow(np.log10(grid.to_numpy(dtype=float)), origin="lower", aspect="auto", cmap="viridis_r")
    labels = [f"{c:g}" if isinstance(c, (int, float, np.number)) else str(c) for c in grid.columns]  # chip, model
    ax.set_xticks(range(len(grid.columns)), labels, fontsize=7)
    ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index], fontsize=7)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=ax, label=f"log10 {value}")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def advantage_views(adv: pd.DataFrame, claim: tuple[float, float], path: Path) -> Path:
    """P10-P90 of each pair's advantage under each view (first load profile, each efficiency)."""
    d = adv[adv["load_profile"] == adv["load_profile"].iloc[0]].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(d) + 2), dpi=110)
    views = list(dict.fromkeys(d["view"]))
    colors = dict(zip(views, plt.cm.tab10(np.linspace(0, 1, 10))[: len(views)]))
    y = np.arange(len(d))
    ax.axvspan(100 * claim[0], 100 * claim[1], color="gold", alpha=0.3, label=f"claimed {claim[0]:.0%}-{claim[1]:.0%}")
    for v in views:
        m = (d["view"] == v).to_numpy()
        ax.hlines(y[m], 100 * d["advantage_p10"][m], 100 * d["advantage_p90"][m], color=colors[v], lw=2)
        ax.plot(100 * d["advantage_p50"][m], y[m], "o", ms=3, color=colors[v], label=v)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, [f"{r.asic} vs {r.gpu} ({r.efficiency})" for r in d.itertuples()], fontsize=6)
    ax.set_xlim(max(-150, 100 * d["advantage_p10"].min() - 5), 100)
    ax.set_xlabel(f"ASIC advantage in $ per million output tokens (%), P10-P90, load {d['load_profile'].iloc[0]}")
    ax.legend(fontsize=6, loc="lower left")
    ax.invert_yaxis()
    return _save(fig, path)


def probability_grid(adv: pd.DataFrame, path: Path) -> Path:
    """Probability of 40-65 % for each pair (rows) under each view, load profile and efficiency (columns)."""
    d = adv.assign(pair=adv["asic"] + " vs " + adv["gpu"],
                   column=adv["view"] + " | " + adv["load_profile"] + " | " + adv["efficiency"])
    grid = d.pivot_table(index="pair", columns="column", values="prob_in_40_65", sort=False)
    fig, ax = plt.subplots(figsize=(0.45 * grid.shape[1] + 4, 0.3 * grid.shape[0] + 3), dpi=110)
    im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90, fontsize=5)
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=6)
    fig.colorbar(im, ax=ax, label="probability the advantage is in 40-65 %")
    return _save(fig, path)


def migration_ranges(head: pd.DataFrame, path: Path) -> Path:
    """Modelled saving range of each case against the reported one."""
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(head) + 1.5), dpi=110)
    y = np.arange(len(head))
    ax.hlines(y, 100 * head["modelled_saving_low"], 100 * head["modelled_saving_high"], color="tab:blue", lw=4,
              label="modelled (prices' P10-P90, both efficiency assumptions)")
    ax.hlines(y, 100 * head["reported_saving_low"], 100 * head["reported_saving_high"], color="tab:red", lw=2)
    ax.plot(100 * head["reported_saving_low"], y, "|", color="tab:red", ms=12, label="reported")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, head["case"], fontsize=6)
    ax.set_xlabel("saving in $ per unit of work moving to the new chip (%)")
    ax.legend(fontsize=7)
    ax.invert_yaxis()
    return _save(fig, path)


def optics_counts(points: pd.DataFrame, path: Path) -> Path:
    """Modules per accelerator and optics' share of the chip-hour against cluster size, per chip and fabric."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), dpi=110)
    chips = list(dict.fromkeys(points["chip"]))
    colors = dict(zip(chips, plt.cm.tab10(np.linspace(0, 1, 10))[: len(chips)]))
    fabrics = list(dict.fromkeys(points["fabric"]))
    styles = dict(zip(fabrics, ["-", ":", "--", "-."]))
    for (chip, fabric), g in points.groupby(["chip", "fabric"], sort=False):
        if fabric not in (fabrics[0], fabrics[-1]):
            continue
        g = g.sort_values("cluster_chips")
        for ax, col in zip(axes, ("modules_per_chip", "optics_share_of_tco")):
            ax.plot(g["cluster_chips"], g[col] * (100 if "share" in col else 1), styles[fabric], marker="o", ms=3,
                    color=colors[chip], label=f"{chip} ({fabric})")
    axes[0].axhline(6, color="grey", lw=0.8, ls="--")
    axes[0].set_ylabel("optical modules per accelerator (scale-up + scale-out)")
    axes[1].set_ylabel("optics' share of an owner's chip-hour (%)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("chips on the scale-out fabric")
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0].legend(fontsize=5, ncol=2)
    return _save(fig, path)


def time_to_power_curves(by_year: pd.DataFrame, path: Path) -> Path:
    """Cumulative tokens served by year, one panel per grid delay, one line per strategy (first chip)."""
    d = by_year[by_year["chip"] == by_year["chip"].iloc[0]]
    delays = sorted(d["grid_delay_years"].unique())
    fig, axes = plt.subplots(1, len(delays), figsize=(4 * len(delays), 4), dpi=110, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, g in zip(axes, delays):
        for strat, s in d[d["grid_delay_years"] == g].groupby("strategy", sort=False):
            s = s.sort_values("year")
            ax.plot(s["year"] + 1, s["tokens"].cumsum() / 1e15, marker="o", ms=3, label=strat)
        ax.set_title(f"grid after {g:g} years", fontsize=9)
        ax.set_xlabel("year")
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[0].set_ylabel(f"cumulative output tokens (10^15), {d['chip'].iloc[0]}")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def pass_through_bars(head: pd.DataFrame, path: Path) -> Path:
    """Change in $/M tokens at cost and marked up, for the chips whose HBM moved."""
    d = head[head["hbm_bill_delta_usd"] > 0].sort_values("usd_per_mtok_change_at_cost")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(d) + 1.5), dpi=110)
    y = np.arange(len(d))
    ax.barh(y - 0.2, 100 * d["usd_per_mtok_change_at_cost"], height=0.4, label="passed through at cost")
    ax.barh(y + 0.2, 100 * d["usd_per_mtok_change_marked_up"].fillna(0), height=0.4,
            label="marked up by the seller's margin (upper bound)")
    ax.set_yticks(y, d["chip"], fontsize=7)
    ax.set_xlabel("change in $ per million tokens (%); absorbed by the seller: 0")
    ax.legend(fontsize=7)
    return _save(fig, path)
