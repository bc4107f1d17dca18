"""`infersim compare`: rank chips for one model and workload on cost, throughput or latency."""

from __future__ import annotations

import argparse

from .. import units
from ..errors import InfersimError
from .options import (
    MAX_SAMPLE_CELLS, MAX_SAMPLES, add_budget, add_chips, add_common, add_concurrency, add_workload, chips_of, int_in,
    kv_dtype_of, length_distributions, library, targets_of, workload_of,
)
from .output import Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables
from .progress import chip_progress, end_progress

HELP = "rank chips for one model and workload by $/M tokens (or tokens/s per chip, or TPOT)"


def cmd_compare(args: argparse.Namespace) -> int:
    from ..analysis.compare import compare
    from ..report.tables import EFFICIENCY_LEGEND, comparison_table
    from ..specs.price_basis import parse_price_basis

    out = Outputs()
    tables = plan_table_outputs(out, args)
    if args.budget == "none" and args.uncertainty:
        raise InfersimError("--uncertainty needs a budget: leave out --budget none")
    if args.budget == "none" and args.rank_by == "usd_per_mtok":
        raise InfersimError("--rank-by usd_per_mtok needs a budget: leave out --budget none, or rank by "
                            "tokens_per_s_per_chip, user_tokens_per_s or tpot_s")
    lib = library(args)
    chips, unreadable = chips_of("--chips", args.chips, lib)  # unknown or invalid ids fail here, before any work
    if args.uncertainty * len(chips) > MAX_SAMPLE_CELLS:
        raise InfersimError(f"--uncertainty {args.uncertainty:,} over {len(chips)} chips draws "
                            f"{args.uncertainty * len(chips):,} prices, more than the {MAX_SAMPLE_CELLS:,} held in "
                            f"memory at once: use at most {MAX_SAMPLE_CELLS // len(chips):,} samples, or fewer --chips")
    workload = workload_of(args, lib)
    targets = targets_of(args, lib)
    budget = None if args.budget == "none" else lib.budget(args.budget)
    result = compare(lib, args.model, chips, workload, args.weight_dtype, kv_dtype_of(args), args.compute_dtype,
                     args.num_chips, args.batch or 0, args.objective, targets, budget, args.price_basis,
                     args.uncertainty, args.rank_by, progress=chip_progress, concurrency=args.concurrency,
                     lengths=length_distributions(args, lib, workload) if args.concurrency else None)
    end_progress()
    result.skipped.extend(unreadable)
    if result.table.empty:
        reasons = "; ".join(f"{c}: {why}" for c, why in result.skipped)
        raise InfersimError(f"no chip could run {args.model}: {reasons}")
    df = result.table
    limits = ", ".join(f"{n} <= {units.s_to_ms(v):g} ms" for n, v in (("TTFT", targets.max_ttft_s),
                                                                       ("TPOT", targets.max_tpot_s)) if v is not None)
    print(f"{args.model}: {workload.input_len} input + {workload.output_len} output tokens, "
          f"weights {args.weight_dtype}, KV {kv_dtype_of(args)}, objective {args.objective}"
          + (f", targets {limits}" if limits else "")
          + (f", budget {args.budget}, {parse_price_basis(args.price_basis).describe()}" if budget else ""))
    if args.concurrency:
        print(f"closed loop: {args.concurrency} requests in flight per deployment, each replaced as it finishes; "
              "TTFT and TPOT are the loop's means (targets apply to them), batch = requests an engine holds")
    print(comparison_table(df))
    print("tried: the chip counts searched (without --num-chips: the fewest that hold the model and powers of two "
          "above it, up to a server or the scale-up domain)")
    if (df["weight_only"]).any():
        print("* weight-only quantization: the chip has no math for the weight dtype; weights are read "
              "narrow and computed in the dtype shown")
    for r in df[df["vendor_speculation_tpot_s"].notna()].itertuples(index=False):
        basis = lib.chip(r.chip).spatial.speculative.basis
        tpot = r.vendor_speculation_tpot_s
        print(f"+ {r.chip}: its vendor runs speculative decoding; with it TPOT {units.s_to_ms(tpot):.2f} ms "
              f"({1 / tpot:.0f} tok/s per user) at batch {r.batch} [{basis}]")
    print(EFFICIENCY_LEGEND)
    if args.verbose:
        for r in df.itertuples(index=False):
            print(f"  {r.chip}: {r.efficiency_basis}")
    for chip, why in result.skipped:
        print(f"skipped {chip}: {why}")
    with out:
        write_tables(out, tables, df, {"model": args.model, "input_len": workload.input_len,
                                       "output_len": workload.output_len,
                                       "skipped": [{"chip": c, "reason": r} for c, r in result.skipped]})
    report_written(out)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("compare", help=HELP, description=HELP + ".")
    add_common(p)
    add_workload(p, speculative=True)
    add_chips(p)
    add_budget(p)
    p.add_argument("--uncertainty", type=int_in(100, MAX_SAMPLES, "a number of samples"), nargs="?", const=20_000,
                   default=0, metavar="SAMPLES",
                   help="add P10/P50/P90 of $/M tokens from a Monte Carlo over the budget ranges and each chip's "
                        "efficiencies drawn from its prior (default 20000 samples)")
    p.add_argument("--rank-by", choices=["usd_per_mtok", "tokens_per_s_per_chip", "user_tokens_per_s", "tpot_s"],
                   help="ranking column (default $/M tokens, or tokens/s per chip without a budget)")
    add_concurrency(p)
    add_table_outputs(p, "the ranked table")
    p.set_defaults(func=cmd_compare)
