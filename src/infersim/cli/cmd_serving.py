"""`infersim goodput`, `disagg` and `speculate`: serving under load, split pools, speculative decoding."""

from __future__ import annotations

import argparse
import dataclasses

from .. import units
from ..errors import InfersimError
from .options import (
    add_budget, add_common, add_concurrency, add_workload, chip_list, int_in, kv_dtype_of, length_distributions,
    library, probability, search_one, targets_of, workload_of,
)
from .output import Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables
from .progress import chip_progress, end_progress

GOODPUT_HELP = "largest request rate meeting p99 TTFT/TPOT targets under continuous batching, with its cost"
DISAGG_HELP = "co-located vs disaggregated prefill/decode pools on $/M tokens at p99 targets"
SPECULATE_HELP = "speculative decoding (draft model or multi-token prediction): TPOT by tokens drafted"


def cmd_goodput(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..analysis.goodput import goodput_record, goodput_search
    from ..model.configuration import resolve_precision

    out = Outputs()
    tables = plan_table_outputs(out, args)
    lib = library(args)
    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    budget = None if args.budget == "none" else lib.budget(args.budget)
    precision = resolve_precision(chip, args.weight_dtype, kv_dtype_of(args), args.compute_dtype)
    workload = workload_of(args, lib)
    targets = targets_of(args, lib)
    inputs, outputs = length_distributions(args, lib, workload)
    if args.concurrency:
        return _goodput_closed_loop(args, out, tables, lib, chip, arch, precision, workload, targets, inputs,
                                    outputs, budget)
    g, counts = goodput_search(chip, arch, precision, workload, inputs, outputs, targets.max_ttft_s,
                               targets.max_tpot_s, args.num_chips)
    row = goodput_record(g, chip, arch, precision, counts, budget, args.price_basis, lib.platform_of(chip))
    r = g.at_goodput
    limits = ", ".join(f"p99 {n} <= {units.s_to_ms(v):g} ms" for n, v in (("TTFT", targets.max_ttft_s),
                                                                          ("TPOT", targets.max_tpot_s)) if v is not None)
    print(f"{arch.id} on {chip.id}, {precision.label}, {workload.input_len}+{workload.output_len} tokens"
          + (f" ({args.traffic} length spread)" if args.traffic else "") + (f", {limits}" if limits else ""))
    print(f"goodput {g.rate_per_s:.3g} requests/s on {g.mapping.chips} chips ({g.mapping.label}; chip counts tried "
          f"{row['chip_counts_tried']}): {r.output_tokens_per_s:.4g} output tokens/s, "
          f"{g.output_tokens_per_s_per_chip:.4g} per chip; capacity without targets {g.capacity_per_s:.3g} requests/s")
    print(f"at goodput: TTFT mean {units.s_to_ms(r.ttft_mean_s):.1f} / p50 {units.s_to_ms(r.ttft_p50_s):.1f} / "
          f"p99 {units.s_to_ms(r.ttft_p99_s):.1f} ms; TPOT mean {units.s_to_ms(r.tpot_mean_s):.2f} / "
          f"p99 {units.s_to_ms(r.tpot_p99_s):.2f} ms; {r.running_batch:.0f} sequences running per replica, "
          f"prefill uses {100 * r.prefill_utilisation:.0f}% of the iteration token budget")
    if budget is not None:
        print(f"cost at goodput: ${row['usd_per_mtok']:.3f} per million output tokens "
              f"(${row['usd_per_chip_hour']:.2f} per chip-hour, budget {args.budget})")
    with out:
        write_tables(out, tables, pd.DataFrame([row]))
    report_written(out)
    return 0


def _goodput_closed_loop(args, out, tables, lib, chip, arch, precision, workload, targets, inputs, outputs,
                         budget) -> int:
    """`goodput --concurrency C`: the closed loop at C on every mapping tried, and the best one."""
    import pandas as pd

    from ..analysis.closed_loop import closed_loop_record, closed_loop_search, closed_loop_table
    from ..report.tables import frame_table

    mapping, r, counts, _ = closed_loop_search(chip, arch, precision, workload, inputs, outputs, args.concurrency,
                                               targets.max_ttft_s, targets.max_tpot_s, args.num_chips)
    platform = lib.platform_of(chip)
    best = closed_loop_record(chip, arch, precision, mapping, r, counts, budget, args.price_basis, platform)
    every = pd.DataFrame(closed_loop_table(chip, arch, precision, workload, inputs, outputs, args.concurrency,
                                           args.num_chips, budget, args.price_basis, platform))
    limits = ", ".join(f"mean {n} <= {units.s_to_ms(v):g} ms" for n, v in (("TTFT", targets.max_ttft_s),
                                                                           ("TPOT", targets.max_tpot_s)) if v is not None)
    print(f"{arch.id} on {chip.id}, {precision.label}, {workload.input_len}+{workload.output_len} tokens"
          + (f" ({args.traffic} length spread)" if args.traffic else "") + f", closed loop of {args.concurrency} "
          "requests in flight" + (f", {limits}" if limits else ""))
    print(f"best: {mapping.label} on {mapping.chips} chips (chip counts tried {best['chip_counts_tried']}): "
          f"{r.output_tokens_per_s:.4g} output tokens/s ({best['output_tokens_per_s_per_chip']:.4g} per chip), "
          f"TTFT mean {units.s_to_ms(r.ttft_mean_s):.1f} ms (queue {units.s_to_ms(r.queue_wait_mean_s):.1f} ms), "
          f"TPOT mean {units.s_to_ms(r.tpot_mean_s):.2f} ms"
          + (f"; ${best['usd_per_mtok']:.3f} per million output tokens" if budget is not None else ""))
    if r.queued:
        print(f"{r.queued:.0f} requests wait outside the engines ({r.limit}): each engine holds "
              f"{r.in_engine_per_replica:.0f}")
    cols = ["num_chips", "tp", "pp", "ep", "dp", "ttft_mean_s", "tpot_mean_s", "queue_wait_mean_s",
            "output_tokens_per_s", "output_tokens_per_s_per_chip", "in_engine_per_replica"] + \
        (["usd_per_mtok"] if budget is not None else [])
    print("every mapping tried, at the same concurrency:")
    print(frame_table(every[cols]))
    with out:
        write_tables(out, tables, every)
    report_written(out)
    return 0


def cmd_disagg(args: argparse.Namespace) -> int:
    from ..analysis.serving_split import compare_serving
    from ..report.tables import frame_table

    out = Outputs()
    tables = plan_table_outputs(out, args)
    lib = library(args)
    pre, dec = chip_list(args.prefill_chips, "--prefill-chips"), chip_list(args.decode_chips, "--decode-chips")
    for c in pre + dec:
        lib.chip(c)  # unknown or invalid ids fail before any work
    workload = workload_of(args, lib)
    targets = targets_of(args, lib)
    if targets.max_ttft_s is None or targets.max_tpot_s is None:
        raise InfersimError("disaggregation compares at latency targets (p99; with --concurrency, the closed loop's "
                            "means): give --max-ttft-ms and --max-tpot-ms (or --traffic)")
    inputs, outputs = length_distributions(args, lib, workload)
    if args.concurrency:
        from ..analysis.serving_split import compare_serving_closed_loop

        table, skipped = compare_serving_closed_loop(
            lib, args.model, pre, dec, inputs, outputs, args.weight_dtype, kv_dtype_of(args), args.concurrency,
            targets.max_ttft_s, targets.max_tpot_s, lib.budget(args.budget), args.price_basis, progress=chip_progress)
        end_progress()
        print(f"{args.model}: {workload.input_len}+{workload.output_len} tokens, closed loop of {args.concurrency} "
              f"requests in flight, mean TTFT <= {units.s_to_ms(targets.max_ttft_s):g} ms, mean TPOT <= "
              f"{units.s_to_ms(targets.max_tpot_s):g} ms, budget {args.budget}; each deployment sized with the "
              "fewest instances that meet the targets")
        cols = ["serving", "prefill_chip", "decode_chip", "prefill_mapping", "decode_mapping", "chips",
                "ttft_mean_s", "tpot_mean_s", "output_tokens_per_s", "usd_per_mtok"]
        print(frame_table(table[cols]))
    else:
        table, skipped = compare_serving(lib, args.model, pre, dec, inputs, outputs, args.weight_dtype,
                                         kv_dtype_of(args), targets.max_ttft_s, targets.max_tpot_s,
                                         lib.budget(args.budget), args.price_basis, progress=chip_progress)
        end_progress()
        print(f"{args.model}: {workload.input_len}+{workload.output_len} tokens, p99 TTFT <= "
              f"{units.s_to_ms(targets.max_ttft_s):g} ms, p99 TPOT <= {units.s_to_ms(targets.max_tpot_s):g} ms, "
              f"budget {args.budget}")
        cols = ["serving", "prefill_chip", "decode_chip", "prefill_mapping", "decode_mapping",
                "chips_per_request_per_s", "prefill_share_of_chips", "ttft_p99_s", "tpot_p99_s", "usd_per_mtok"]
        print(frame_table(table[cols], percent=["prefill_share_of_chips"]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    with out:
        write_tables(out, tables, table, {"model": args.model, "skipped": [{"chips": c, "reason": r} for c, r in skipped]})
    report_written(out)
    return 0


def cmd_speculate(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..model.configuration import resolve_precision
    from ..model.speculative import speculative_decode
    from ..report.tables import render

    out = Outputs()
    tables = plan_table_outputs(out, args)
    if not 0 <= args.acceptance <= 1:
        raise InfersimError(f"--acceptance must be a probability between 0 and 1, got {args.acceptance:g}")
    lib = library(args)
    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    draft = None if args.draft == "mtp" else lib.architecture(args.draft)
    precision = resolve_precision(chip, args.weight_dtype, kv_dtype_of(args), args.compute_dtype)
    workload = workload_of(args, lib)
    args.objective = "latency"
    _, _, _, _, best = search_one(args, lib)
    mapping = dataclasses.replace(best.mapping, replicas=1)
    batch = args.batch or 1
    rows = []
    for k in range(1, args.max_k + 1):
        sp = speculative_decode(chip, arch, precision, mapping, workload, batch, k, args.acceptance, draft)
        rows.append({"drafted_tokens": k, "tokens_per_step": sp.tokens_per_step, "tpot_s": sp.tpot_s,
                     "speedup": sp.speedup, "user_tokens_per_s": 1 / sp.tpot_s,
                     "baseline_tpot_s": sp.baseline_tpot_s})
    print(f"{arch.id} on {mapping.chips} x {chip.id} ({mapping.label}), batch {batch}, draft "
          f"{'multi-token prediction (one extra layer)' if draft is None else draft.id}, acceptance {args.acceptance:g}; "
          f"without speculation TPOT {units.s_to_ms(sp.baseline_tpot_s):.2f} ms")
    print(render(["k", "tokens/step", "TPOT ms", "speed-up", "tok/s/user"],
                 [[str(r["drafted_tokens"]), f"{r['tokens_per_step']:.2f}", f"{units.s_to_ms(r['tpot_s']):.2f}",
                   f"{r['speedup']:.2f}x", f"{r['user_tokens_per_s']:.1f}"] for r in rows]))
    with out:
        write_tables(out, tables, pd.DataFrame(rows), {"model": arch.id, "chip": chip.id, "mapping": mapping.label,
                                                       "batch": batch, "acceptance": args.acceptance})
    report_written(out)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("goodput", help=GOODPUT_HELP, description=GOODPUT_HELP + ".")
    add_common(p)
    add_workload(p, batch=False, objective=False, speculative=True)
    p.add_argument("--chip", required=True, metavar="ID", help="the chip to serve on")
    add_concurrency(p)
    add_budget(p)
    add_table_outputs(p, "the result (one row)")
    p.set_defaults(func=cmd_goodput)

    p = sub.add_parser("disagg", help=DISAGG_HELP, description=DISAGG_HELP + ".")
    add_common(p)
    add_workload(p, batch=False, num_chips=False, objective=False, compute_dtype=False)
    p.add_argument("--prefill-chips", required=True, metavar="ID[,ID...]",
                   help="chips for the prefill pool (each also tried co-located)")
    p.add_argument("--decode-chips", required=True, metavar="ID[,ID...]",
                   help="chips for the decode pool (each also tried co-located)")
    add_concurrency(p)
    add_budget(p, none=False)
    add_table_outputs(p)
    p.set_defaults(func=cmd_disagg)

    p = sub.add_parser("speculate", help=SPECULATE_HELP, description=SPECULATE_HELP + ".")
    add_common(p)
    add_workload(p, objective=False)
    p.add_argument("--chip", required=True, metavar="ID", help="the chip to decode on")
    p.add_argument("--draft", default="mtp", metavar="ID|mtp", help="draft model id, or mtp (one extra layer; default)")
    p.add_argument("--acceptance", type=probability, default=0.7,
                   help="probability a drafted token is accepted, below 1 (default 0.7)")
    p.add_argument("--max-k", type=int_in(1, 64, "a number of drafted tokens"), default=6, help="largest number of drafted tokens to tabulate (default 6)")
    add_table_outputs(p)
    p.set_defaults(func=cmd_speculate)
