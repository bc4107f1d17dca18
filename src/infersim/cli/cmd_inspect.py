"""`infersim explain` and `infersim roofline`: why a configuration is as fast as it is, operator by operator."""

from __future__ import annotations

import argparse
from .. import units
from ..errors import InfersimError
from .options import add_common, add_workload, batch_size, int_list, library, search_one
from .output import FIGURE, Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables

EXPLAIN_HELP = "per-operator table (FLOPs, bytes, time, bound) of prefill and decode on one chip"
ROOFLINE_HELP = "roofline figure of one chip with the model's prefill and decode operators on it"


def cmd_explain(args: argparse.Namespace) -> int:
    from ..model.evaluate import operator_table
    import pandas as pd

    from ..report.tables import operator_table_text

    out = Outputs()
    tables = plan_table_outputs(out, args)
    lib = library(args)
    chip, arch, precision, workload, best = search_one(args, lib)
    print(f"{arch.id} on {best.mapping.chips} x {chip.id} ({best.mapping.label}), {precision.label}, "
          f"batch {best.batch} (max {best.max_batch})")
    print(f"TTFT {units.s_to_ms(best.ttft_s):.1f} ms, TPOT {units.s_to_ms(best.tpot_s):.2f} ms, "
          f"{best.user_tokens_per_s:.1f} tok/s per user, {best.tokens_per_s_per_chip:.1f} tok/s per chip; "
          f"memory used {100 * best.memory_used_fraction:.0f}%")
    if chip.spatial is not None:
        _explain_spatial(chip, arch, precision, workload, best)
    tables_by_phase = []
    per_group = " in each of its attention groups" if best.mapping.attn_dp > 1 else ""
    for phase, label in (("prefill", f"prefill of one {workload.input_len}-token prompt{per_group}"),
                         ("decode", f"decode step at batch {best.batch}")):
        table = operator_table(chip, arch, precision, best.mapping, workload, best.batch, phase)
        print(f"\n{label}: bound by {best.prefill_bound if phase == 'prefill' else best.decode_bound}")
        print(operator_table_text(table))
        tables_by_phase.append(table.assign(phase=phase))
    with out:
        write_tables(out, tables, pd.concat(tables_by_phase, ignore_index=True),
                     {"model": arch.id, "chip": chip.id, "num_chips": best.mapping.chips, "mapping": best.mapping.label,
                      "batch": best.batch, "input_len": workload.input_len, "output_len": workload.output_len})
    report_written(out)
    return 0


def _explain_spatial(chip, arch, precision, workload, best) -> None:
    """The spatial model's per-layer budget of one decode step, the vendor's speculative decoding and
    the weight-streaming mode, for a chip with a [spatial] section."""
    from ..errors import CapacityError
    from ..model.configuration import Mapping
    from ..model.spatial_budget import budget_table, decode_budget, evaluate_streaming, vendor_speculation
    from ..report.tables import spatial_budget_text

    b = decode_budget(chip, arch, precision, best.mapping, workload, best.batch)
    sp = chip.spatial
    fitted = f"; fitted: {sp.fitted} on {', '.join(sp.fitted_on)}" if sp.fitted else "; nothing fitted"
    print(f"\nspatial model: {b.regions_per_chip} layer region(s) per chip, {b.tokens_in_flight} micro-batches in "
          f"flight over {best.mapping.pp} stage(s) of {best.mapping.tp * best.mapping.attn_dp} chip(s){fitted}")
    print(f"decode step at batch {best.batch}, per layer and per token:")
    print(spatial_budget_text(budget_table(chip, b)))
    spec = vendor_speculation(chip, arch, precision, best.mapping, workload, best.batch)
    if spec is not None:
        print(f"speculative decoding as the vendor runs it ({sp.speculative.basis}): {spec.k} drafted, "
              f"{spec.tokens_per_step:.2f} tokens per step, TPOT {units.s_to_ms(spec.tpot_s):.3f} ms "
              f"({1 / spec.tpot_s:.0f} tok/s per user, x{spec.speedup:.2f})")
    elif sp.speculative is not None:
        print(f"speculative decoding: not applied ({sp.speculative.basis})")
    if sp.weight_streaming:
        tier = chip.memory.host
        try:
            r = evaluate_streaming(chip, arch, precision, Mapping(), workload, batch=0)
        except CapacityError as exc:
            print(f"weight streaming from {tier.technology}: {exc}")
            return
        if r.fits:
            print(f"weight-streaming mode (every weight read from {tier.technology} at "
                  f"{tier.bandwidth_bytes_per_s / 1e9:g} GB/s each step, the fast memory left to the KV cache) on "
                  f"1 x {chip.id}: batch {r.batch}, TPOT {units.s_to_ms(r.tpot_s):.1f} ms, "
                  f"{r.tokens_per_s_per_chip:.1f} tok/s per chip")
        else:
            print(f"weight-streaming mode on 1 x {chip.id}: the KV cache of one sequence does not fit its fast memory")


def cmd_roofline(args: argparse.Namespace) -> int:
    from ..report.roofline_plot import roofline_figure

    out = Outputs()
    fig_path = out.file("--output", args.output, FIGURE)
    wanted = int_list("--batches", args.batches, batch_size)
    lib = library(args)
    chip, arch, precision, workload, best = search_one(args, lib)
    batches = sorted(b for b in wanted if b <= best.max_batch)
    if len(batches) < len(wanted):  # never a silently shorter figure
        too_big = ", ".join(str(b) for b in sorted(set(wanted) - set(batches)))
        raise InfersimError(f"--batches {too_big}: larger than the largest batch that fits ({best.max_batch}): "
                            "pass smaller --batches")
    with out:
        out.figure(fig_path, lambda tmp: roofline_figure(chip, arch, precision, best.mapping, workload, batches, tmp))
    report_written(out)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("explain", help=EXPLAIN_HELP, description=EXPLAIN_HELP + ".")
    add_common(p)
    add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID", help="the chip to explain")
    add_table_outputs(p, "both operator tables (a 'phase' column tells them apart)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("roofline", help=ROOFLINE_HELP, description=ROOFLINE_HELP + ".")
    add_common(p)
    add_workload(p, objective=False)
    p.add_argument("--chip", required=True, metavar="ID", help="the chip whose roofline to draw")
    p.add_argument("--batches", default="1,8,64,256", metavar="B[,B...]",
                   help="decode batch sizes to place (default 1,8,64,256)")
    p.add_argument("-o", "--output", default="roofline.png", metavar="PATH",
                   help="figure file: .png, .svg or .pdf (default roofline.png)")
    p.set_defaults(func=cmd_roofline)
