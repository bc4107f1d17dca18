"""`infersim compare`: rank chips for one model and workload on cost, throughput or latency."""

from __future__ import annotations

import argparse
import json

from .. import units
from ..errors import InfersimError
from .options import add_common, add_workload, kv_dtype_of, library, targets_of, workload_of
from .output import CSV, JSON, Outputs
from .progress import chip_progress, end_progress


def cmd_compare(args: argparse.Namespace) -> int:
    from ..analysis.compare import compare
    from ..report.tables import comparison_table

    out = Outputs()
    csv_path = out.file("--csv", args.csv, CSV)
    json_path = out.file("--json", args.json, JSON)
    lib = library(args)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()] if args.chips else lib.ids("chip")
    for c in chips:
        lib.path("chip", c)  # unknown ids fail here, before any work
    workload = workload_of(args, lib)
    targets = targets_of(args, lib)
    budget = None if args.budget == "none" else lib.budget(args.budget)
    result = compare(lib, args.model, chips, workload, args.weight_dtype, kv_dtype_of(args), args.compute_dtype,
                     args.num_chips, args.batch or 0, args.objective, targets, budget, args.price_basis,
                     args.uncertainty, args.rank_by, progress=chip_progress)
    end_progress()
    if result.table.empty:
        reasons = "; ".join(f"{c}: {why}" for c, why in result.skipped)
        raise InfersimError(f"no chip could run {args.model}: {reasons}")
    df = result.table
    limits = ", ".join(f"{n} <= {units.s_to_ms(v):g} ms" for n, v in (("TTFT", targets.max_ttft_s),
                                                                       ("TPOT", targets.max_tpot_s)) if v is not None)
    print(f"{args.model}: {workload.input_len} input + {workload.output_len} output tokens, "
          f"weights {args.weight_dtype}, KV {kv_dtype_of(args)}, objective {args.objective}"
          + (f", targets {limits}" if limits else "") + (f", budget {args.budget}" if budget else ""))
    print(comparison_table(df))
    if (df["weight_only"]).any():
        print("* weight-only quantization: the chip has no math for the weight dtype; weights are read "
              "narrow and computed in the dtype shown")
    if not df["efficiency_fitted"].all():
        print("~ efficiencies not calibrated on measurements (family defaults): optimistic against calibrated chips")
    for chip, why in result.skipped:
        print(f"skipped {chip}: {why}")
    with out:
        if csv_path:
            out.csv(csv_path, df)
        if json_path:
            out.json(json_path, {
                "model": args.model, "input_len": workload.input_len, "output_len": workload.output_len,
                "rows": json.loads(df.to_json(orient="records")),
                "skipped": [{"chip": c, "reason": r} for c, r in result.skipped],
            })
    for path in out.written:
        print(f"wrote {path}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("compare", help="rank chips for one model and workload")
    add_common(p)
    add_workload(p)
    p.add_argument("--chips", metavar="ID[,ID...]", help="chips to compare (default: every chip in the library)")
    p.add_argument("--budget", default="central-2025", metavar="ID",
                   help="TCO budget for $/M tokens (default central-2025; 'none' to skip cost)")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto",
                   help="chip price: bill of materials + margin where the chip has one (auto), or market price")
    p.add_argument("--uncertainty", type=int, nargs="?", const=20_000, default=0, metavar="SAMPLES",
                   help="add P10/P50/P90 of $/M tokens from a Monte Carlo over the budget ranges (default 20000)")
    p.add_argument("--rank-by", choices=["usd_per_mtok", "tokens_per_s_per_chip", "user_tokens_per_s", "tpot_s"],
                   help="ranking column (default $/M tokens, or tokens/s per chip without a budget)")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    p.set_defaults(func=cmd_compare)
