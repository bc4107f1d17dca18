"""`infersim tco`: $/hour of a deployed chip by component, and what moves it."""

from __future__ import annotations

import argparse

from ..errors import InfersimError
from .options import add_budget, add_chips, add_common, chip_list, int_in, library
from .output import Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables

HELP = "$/hour of a deployed chip by component (chip, HBM, server, scale-up fabric, network, facility, power, upkeep; a renter: rent)"


def cmd_tco(args: argparse.Namespace) -> int:
    from ..cost.tco import COMPONENTS, chip_hour_cost
    import pandas as pd

    from ..report.tables import render

    if args.output and not args.tornado:
        raise InfersimError("-o/--output writes tornado figures: add --tornado")
    out = Outputs()
    folder = out.folder("--output", args.output)
    tables = plan_table_outputs(out, args)
    lib = library(args)
    budget = lib.budget(args.budget)
    chips = chip_list(args.chips)
    for cid in chips:
        lib.chip(cid)  # unknown or invalid ids fail before any work
    figures = {cid: out.in_folder("--output", folder, f"tornado-{cid}.png") for cid in chips} if folder else {}
    rows, records, tornados = [], [], {}
    for cid in chips:
        chip = lib.chip(cid)
        c = chip_hour_cost(chip, budget, args.price_basis, lib.platform_of(chip))
        comps = c.components()
        records.append({"chip": cid, "chip_price_usd": c.chip_price_usd,
                        **{f"{k}_usd_per_hour": v for k, v in comps.items()},
                        "total_usd_per_hour": c.total_usd_per_hour, "site_power_avg_w": c.site_power_avg_w,
                        "site_power_peak_w": c.site_power_peak_w})
        rows.append([cid, f"{c.chip_price_usd:,.0f}"] + [f"{comps[k]:.3f}" for k in COMPONENTS]
                    + [f"{c.total_usd_per_hour:.3f}", f"{c.site_power_avg_w:,.0f}", f"{c.site_power_peak_w:,.0f}"])
    from ..specs.price_basis import parse_price_basis

    print(f"$/hour of one deployed chip, budget {args.budget} (central values), "
          f"{parse_price_basis(args.price_basis).describe()}; hbm is part of chip, optics part of scaleup and network")
    print(render(["chip", "price $", *COMPONENTS, "total $/h", "site W avg", "site W peak"], rows))
    with out:
        if args.tornado:
            from ..cost.tco import tornado
            from ..report.scenario_plots import tornado_chart
            from ..report.tables import frame_table

            for cid in chips:
                df = tornado([lib.chip(cid)], [lib.platform_of(lib.chip(cid))], budget, lambda c: c[0],
                             args.price_basis).head(args.tornado)
                tornados[cid] = df
                print(f"\n{cid}: what moves $/chip-hour most (each input at its low and high, the rest central)")
                print(frame_table(df.rename(columns={"metric_at_low": "usd_per_hour_at_low",
                                                     "metric_at_high": "usd_per_hour_at_high",
                                                     "central_metric": "usd_per_hour_central"})))
                if cid in figures:
                    out.figure(figures[cid], lambda tmp, df=df, cid=cid: tornado_chart(df, f"$/hour of one {cid}", tmp))
        write_tables(out, tables, pd.DataFrame(records), {
            "budget": args.budget, "price_basis": args.price_basis,
            "tornado": {cid: df.to_dict(orient="records") for cid, df in tornados.items()}})
    report_written(out)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("tco", help=HELP, description=HELP + ".")
    add_common(p)
    add_chips(p, required=True)
    add_budget(p, none=False)
    p.add_argument("--tornado", type=int_in(1, 1000, "a number of inputs"), nargs="?", const=10, default=0,
                   metavar="N",
                   help="also list the N inputs that move the cost most (default 10)")
    p.add_argument("-o", "--output", metavar="DIR", help="with --tornado: write a tornado figure per chip here")
    add_table_outputs(p, "the cost table (JSON: with the tornado rows)")
    p.set_defaults(func=cmd_tco)
