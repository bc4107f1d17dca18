"""`infersim tco`: $/hour of a deployed chip by component, and what moves it."""

from __future__ import annotations

import argparse

from .options import add_common, library
from .output import Outputs


def cmd_tco(args: argparse.Namespace) -> int:
    from ..cost.tco import COMPONENTS, chip_hour_cost
    from ..report.tables import render

    out = Outputs()
    folder = out.folder("--output", args.output)
    lib = library(args)
    budget = lib.budget(args.budget)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()]
    figures = {cid: out.in_folder("--output", folder, f"tornado-{cid}.png") for cid in chips} if folder else {}
    rows = []
    for cid in chips:
        c = chip_hour_cost(lib.chip(cid), budget, args.price_basis)
        comps = c.components()
        rows.append([cid, f"{c.chip_price_usd:,.0f}"] + [f"{comps[k]:.3f}" for k in COMPONENTS]
                    + [f"{c.total_usd_per_hour:.3f}", f"{c.site_power_avg_w:,.0f}", f"{c.site_power_peak_w:,.0f}"])
    print(f"$/hour of one deployed chip, budget {args.budget} (central values); hbm is part of chip")
    print(render(["chip", "price $", *COMPONENTS, "total $/h", "site W avg", "site W peak"], rows))
    if args.tornado:
        from ..cost.tco import tornado
        from ..report.scenario_plots import tornado_chart
        from ..report.tables import frame_table

        with out:
            for cid in chips:
                df = tornado([lib.chip(cid)], budget, lambda c: c[0], args.price_basis).head(args.tornado)
                print(f"\n{cid}: what moves $/chip-hour most (each input at its low and high, the rest central)")
                print(frame_table(df.rename(columns={"metric_at_low": "usd_per_hour_at_low",
                                                     "metric_at_high": "usd_per_hour_at_high",
                                                     "central_metric": "usd_per_hour_central"})))
                if cid in figures:
                    out.figure(figures[cid], lambda tmp, df=df, cid=cid: tornado_chart(df, f"$/hour of one {cid}", tmp))
        for path in out.written:
            print(f"wrote {path}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("tco", help="$/hour of a deployed chip by component (chip, HBM, server, network, facility, power, upkeep)")
    add_common(p)
    p.add_argument("--chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--budget", default="central-2025", metavar="ID")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto")
    p.add_argument("--tornado", type=int, nargs="?", const=10, default=0, metavar="N",
                   help="also list the N inputs that move the cost most (default 10)")
    p.add_argument("-o", "--output", metavar="DIR", help="with --tornado: write a tornado figure per chip here")
    p.set_defaults(func=cmd_tco)
