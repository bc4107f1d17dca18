"""`infersim goodput`, `disagg` and `speculate`: serving under load, split pools, speculative decoding."""

from __future__ import annotations

import argparse

from .. import units
from ..errors import InfersimError
from .options import (
    add_common, add_workload, kv_dtype_of, length_distributions, library, positive_int, search_one, targets_of,
    workload_of,
)
from .output import CSV, Outputs
from .progress import chip_progress, end_progress


def cmd_goodput(args: argparse.Namespace) -> int:
    from ..model.configuration import resolve_precision
    from ..model.mapping_search import candidate_mappings, chip_counts, min_chips_to_fit
    from ..model.serving import best_goodput

    lib = library(args)
    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    precision = resolve_precision(chip, args.weight_dtype, kv_dtype_of(args), args.compute_dtype)
    workload = workload_of(args, lib)
    targets = targets_of(args, lib)
    inputs, outputs = length_distributions(args, lib, workload)
    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    mappings = [m for n in chip_counts(chip, need, args.num_chips) for m in candidate_mappings(chip, arch, n, need)]
    g = best_goodput(chip, arch, precision, mappings, inputs, outputs, targets.max_ttft_s, targets.max_tpot_s)
    r = g.at_goodput
    limits = ", ".join(f"p99 {n} <= {units.s_to_ms(v):g} ms" for n, v in (("TTFT", targets.max_ttft_s),
                                                                          ("TPOT", targets.max_tpot_s)) if v is not None)
    print(f"{arch.id} on {chip.id}, {precision.label}, {workload.input_len}+{workload.output_len} tokens"
          + (f" ({args.traffic} length spread)" if args.traffic else "") + (f", {limits}" if limits else ""))
    print(f"goodput {g.rate_per_s:.3g} requests/s on {g.mapping.chips} chips ({g.mapping.label}): "
          f"{r.output_tokens_per_s:.4g} output tokens/s, {g.output_tokens_per_s_per_chip:.4g} per chip; "
          f"capacity without targets {g.capacity_per_s:.3g} requests/s")
    print(f"at goodput: TTFT mean {units.s_to_ms(r.ttft_mean_s):.1f} / p50 {units.s_to_ms(r.ttft_p50_s):.1f} / "
          f"p99 {units.s_to_ms(r.ttft_p99_s):.1f} ms; TPOT mean {units.s_to_ms(r.tpot_mean_s):.2f} / "
          f"p99 {units.s_to_ms(r.tpot_p99_s):.2f} ms; {r.running_batch:.0f} sequences running per replica, "
          f"prefill uses {100 * r.prefill_utilisation:.0f}% of the iteration token budget")
    return 0


def cmd_disagg(args: argparse.Namespace) -> int:
    from ..analysis.serving_split import compare_serving
    from ..report.tables import frame_table

    out = Outputs()
    csv_path = out.file("--csv", args.csv, CSV)
    lib = library(args)
    pre = [c.strip() for c in args.prefill_chips.split(",") if c.strip()]
    dec = [c.strip() for c in args.decode_chips.split(",") if c.strip()]
    for c in pre + dec:
        lib.path("chip", c)
    workload = workload_of(args, lib)
    targets = targets_of(args, lib)
    if targets.max_ttft_s is None or targets.max_tpot_s is None:
        raise InfersimError("disaggregation compares at p99 targets: give --max-ttft-ms and --max-tpot-ms (or --traffic)")
    inputs, outputs = length_distributions(args, lib, workload)
    table, skipped = compare_serving(lib, args.model, pre, dec, inputs, outputs, args.weight_dtype, kv_dtype_of(args),
                                     targets.max_ttft_s, targets.max_tpot_s, lib.budget(args.budget),
                                     args.price_basis, progress=chip_progress)
    end_progress()
    print(f"{args.model}: {workload.input_len}+{workload.output_len} tokens, p99 TTFT <= "
          f"{units.s_to_ms(targets.max_ttft_s):g} ms, p99 TPOT <= {units.s_to_ms(targets.max_tpot_s):g} ms, "
          f"budget {args.budget}")
    cols = ["serving", "prefill_chip", "decode_chip", "prefill_mapping", "decode_mapping", "chips_per_request_per_s",
            "prefill_share_of_chips", "ttft_p99_s", "tpot_p99_s", "usd_per_mtok"]
    print(frame_table(table[cols], percent=["prefill_share_of_chips"]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    with out:
        if csv_path:
            out.csv(csv_path, table)
    for path in out.written:
        print(f"wrote {path}")
    return 0


def cmd_speculate(args: argparse.Namespace) -> int:
    from ..model.configuration import Mapping, resolve_precision
    from ..model.speculative import speculative_decode
    from ..report.tables import render

    lib = library(args)
    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    draft = None if args.draft == "mtp" else lib.architecture(args.draft)
    precision = resolve_precision(chip, args.weight_dtype, kv_dtype_of(args), args.compute_dtype)
    workload = workload_of(args, lib)
    args.objective = "latency"
    _, _, _, _, best = search_one(args, lib)
    mapping = Mapping(best.mapping.tp, best.mapping.pp, best.mapping.ep)
    batch = args.batch or 1
    rows = []
    for k in range(1, args.max_k + 1):
        sp = speculative_decode(chip, arch, precision, mapping, workload, batch, k, args.acceptance, draft)
        rows.append([str(k), f"{sp.tokens_per_step:.2f}", f"{units.s_to_ms(sp.tpot_s):.2f}", f"{sp.speedup:.2f}x",
                     f"{1 / sp.tpot_s:.1f}"])
    print(f"{arch.id} on {mapping.chips} x {chip.id} ({mapping.label}), batch {batch}, draft "
          f"{'multi-token prediction (one extra layer)' if draft is None else draft.id}, acceptance {args.acceptance:g}; "
          f"without speculation TPOT {units.s_to_ms(sp.baseline_tpot_s):.2f} ms")
    print(render(["k", "tokens/step", "TPOT ms", "speed-up", "tok/s/user"], rows))
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("goodput", help="largest request rate meeting p99 TTFT/TPOT targets under continuous batching")
    add_common(p)
    add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.set_defaults(func=cmd_goodput)

    p = sub.add_parser("disagg", help="co-located vs disaggregated prefill/decode pools on $/M tokens at p99 targets")
    add_common(p)
    add_workload(p)
    p.add_argument("--prefill-chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--decode-chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--budget", default="central-2025", metavar="ID")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto")
    p.add_argument("--csv", metavar="PATH")
    p.set_defaults(func=cmd_disagg)

    p = sub.add_parser("speculate", help="speculative decoding (draft model or multi-token prediction): TPOT by tokens drafted")
    add_common(p)
    add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.add_argument("--draft", default="mtp", metavar="ID|mtp", help="draft model id, or mtp (one extra layer)")
    p.add_argument("--acceptance", type=float, default=0.7, help="probability a drafted token is accepted (default 0.7)")
    p.add_argument("--max-k", type=positive_int, default=6, help="largest number of drafted tokens to tabulate")
    p.set_defaults(func=cmd_speculate)
