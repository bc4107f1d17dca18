"""`infersim explain` and `infersim roofline`: why a configuration is as fast as it is, operator by operator."""

from __future__ import annotations

import argparse

from .. import units
from ..errors import InfersimError
from .options import add_common, add_workload, library, search_one
from .output import FIGURE, Outputs


def cmd_explain(args: argparse.Namespace) -> int:
    from ..model.evaluate import operator_table
    from ..report.tables import operator_table_text

    lib = library(args)
    chip, arch, precision, workload, best = search_one(args, lib)
    print(f"{arch.id} on {best.mapping.chips} x {chip.id} ({best.mapping.label}), {precision.label}, "
          f"batch {best.batch} (max {best.max_batch})")
    print(f"TTFT {units.s_to_ms(best.ttft_s):.1f} ms, TPOT {units.s_to_ms(best.tpot_s):.2f} ms, "
          f"{best.user_tokens_per_s:.1f} tok/s per user, {best.tokens_per_s_per_chip:.1f} tok/s per chip; "
          f"memory used {100 * best.memory_used_fraction:.0f}%")
    for phase, label in (("prefill", f"prefill of one {workload.input_len}-token prompt"),
                         ("decode", f"decode step at batch {best.batch}")):
        table = operator_table(chip, arch, precision, best.mapping, workload, best.batch, phase)
        print(f"\n{label}: bound by {best.prefill_bound if phase == 'prefill' else best.decode_bound}")
        print(operator_table_text(table))
    return 0


def cmd_roofline(args: argparse.Namespace) -> int:
    from ..report.roofline_plot import roofline_figure

    out = Outputs()
    fig_path = out.file("--output", args.output, FIGURE)
    lib = library(args)
    args.objective = "throughput"
    chip, arch, precision, workload, best = search_one(args, lib)
    batches = sorted({b for b in (int(x) for x in args.batches.split(",")) if 1 <= b <= best.max_batch})
    if not batches:
        raise InfersimError(f"none of the batch sizes {args.batches} fit (max {best.max_batch}): pass smaller --batches")
    with out:
        out.figure(fig_path, lambda tmp: roofline_figure(chip, arch, precision, best.mapping, workload, batches, tmp))
    print(f"wrote {fig_path}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("explain", help="per-operator table (FLOPs, bytes, time, bound) for one chip")
    add_common(p)
    add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("roofline", help="roofline figure of one chip with the model's operators on it")
    add_common(p)
    add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.add_argument("--batches", default="1,8,64,256", help="decode batch sizes to place (default 1,8,64,256)")
    p.add_argument("-o", "--output", default="roofline.png", help="figure file: .png, .svg or .pdf")
    p.set_defaults(func=cmd_roofline)
