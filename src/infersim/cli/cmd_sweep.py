"""`infersim sweep` and `infersim pareto`: design-space grids and the throughput-interactivity frontier."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InfersimError
from .options import (
    add_budget, add_chips, add_common, add_workload, chip_list, int_in, kv_dtype_of, library, workload_of,
)
from .output import Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables

SWEEP_HELP = "design-space sweep from a sweep file, streamed in chunks and kept as reductions"
PARETO_HELP = "throughput-interactivity frontier of several chips: tables and a figure"
SWEEP_FORMATS = (".csv", ".json", ".parquet")
from .progress import SweepProgress, chip_progress, end_progress

# Columns of the sweep's table that are axes (what --heatmap can put on x and y)
HEATMAP_AXES = ("chip", "model", "scale_flops", "scale_memory_bandwidth", "scale_memory_capacity", "scale_power",
                "scale_price", "scale_electricity", "scale_hbm_price", "tp", "pp", "input_len", "output_len", "batch",
                "num_chips")


def _heatmap_axes(text: str | None) -> tuple[str, str] | None:
    """--heatmap X,Y: two different axis columns, checked before the sweep runs."""
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise InfersimError(f"--heatmap '{text}' needs two columns X,Y (e.g. scale_memory_bandwidth,chip); "
                            f"columns: {', '.join(HEATMAP_AXES)}")
    for col in parts:
        if col not in HEATMAP_AXES:
            raise InfersimError(f"--heatmap column '{col}' is not an axis of the sweep: choose from "
                                f"{', '.join(HEATMAP_AXES)}")
    if parts[0] == parts[1]:
        raise InfersimError(f"--heatmap '{text}' puts one column on both axes: give two different columns")
    return parts[0], parts[1]


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..report.tables import frame_table
    from ..specs.loader import load
    from ..specs.sweep_file import SweepSpec
    from ..design_space.run import run_sweep

    if args.scheduler is not None and args.backend != "dask":
        raise InfersimError("--scheduler is the address of a dask scheduler: it needs --backend dask")
    axes = _heatmap_axes(args.heatmap)
    outputs = Outputs()
    out = outputs.file("--output", args.output, SWEEP_FORMATS)
    hist = outputs.file("--output", out.with_name(out.stem + "-histogram" + out.suffix), SWEEP_FORMATS)
    front_fig = outputs.file("--output", out.with_name(out.stem + "-frontier.png"), (".png",))
    heat_fig = outputs.file("--heatmap", out.with_name(out.stem + "-heatmap.png"), (".png",)) if args.heatmap else None
    lib = library(args)
    spec = load(Path(args.file), SweepSpec) if args.file.endswith(".toml") else lib.sweep(args.file)
    result = run_sweep(lib, spec, chunk_points=args.chunk, backend=args.backend, scheduler=args.scheduler,
                       progress=SweepProgress(1))
    if result.table.empty:
        limits = ", ".join(f"{n} <= {v:g} ms" for n, v in (("TTFT", spec.reduce.max_ttft_ms),
                                                            ("TPOT", spec.reduce.max_tpot_ms)) if v is not None)
        skipped = "; ".join(f"{c}: {w}" for c, w in result.skipped)
        raise InfersimError(f"sweep '{spec.id}': none of its {result.n_points:,} points fits in memory"
                            + (f" and meets {limits}: relax reduce.max_ttft_ms / reduce.max_tpot_ms or" if limits
                               else ":") + " widen the axes (more tp/pp, smaller batches)"
                            + (f" (skipped {skipped})" if skipped else ""))
    print(f"{spec.id}: {result.n_points:,} points, {result.n_feasible:,} fit and meet the targets, "
          f"{result.seconds:.2f} s ({result.n_points / result.seconds / 1e6:.2f} M points/s), "
          f"peak memory {result.peak_rss_bytes / 1e6:.0f} MB")
    varying = [c for c in result.table.columns if c.startswith("scale_") and result.table[c].nunique() > 1]
    cols = ["kept_as", "chip", "model", *varying, "tp", "pp", "batch", "input_len", "output_len", "usd_per_mtok",
            "user_tokens_per_s", "tokens_per_s_per_chip"]
    print(frame_table(result.table.sort_values("usd_per_mtok").head(args.show)[cols]))
    for c, why in result.skipped:
        print(f"skipped {c}: {why}")
    with outputs:
        context = {"sweep": spec.id, "n_points": result.n_points, "n_feasible": result.n_feasible}
        write_tables(outputs, {out.suffix.lstrip(".").lower(): out}, result.table, context)
        write_tables(outputs, {hist.suffix.lstrip(".").lower(): hist}, result.histogram, context)
        if len(result.table):
            from ..report.scenario_plots import frontier_figure

            outputs.figure(front_fig, lambda p: frontier_figure(
                result.table, f"{spec.name}: kept points (best per chip variant, Pareto front)", p))
        if heat_fig:
            from ..report.scenario_plots import heatmap

            outputs.figure(heat_fig, lambda p: heatmap(result.table, *axes, "usd_per_mtok",
                                                       f"{spec.name}: best $/M tokens kept", p))
    report_written(outputs)
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    from ..analysis.frontier import frontier_points, per_chip_frontiers
    from ..report.scenario_plots import frontier_figure

    outputs = Outputs()
    out = outputs.folder("--output", args.output)
    files = {name: outputs.in_folder("--output", out, name) for name in ("points.csv", "frontier.csv", "frontier.png")}
    tables = plan_table_outputs(outputs, args)
    lib = library(args)
    chips = chip_list(args.chips)
    for c in chips:
        lib.chip(c)  # unknown or invalid ids fail before any work
    workload = workload_of(args, lib)
    budget = None if args.budget == "none" else lib.budget(args.budget)
    points, skipped = frontier_points(lib, args.model, chips, workload, args.weight_dtype, kv_dtype_of(args), budget,
                                      args.price_basis, progress=chip_progress)
    end_progress()
    if points.empty:
        raise InfersimError("no chip could run the model: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    front = per_chip_frontiers(points, "usd_per_mtok" if budget else "tokens_per_s_per_chip", budget is not None)
    with outputs:
        outputs.csv(files["points.csv"], points)
        outputs.csv(files["frontier.csv"], front)
        outputs.figure(files["frontier.png"], lambda p: frontier_figure(
            points, f"{args.model}: {workload.input_len}+{workload.output_len} tokens, weights {args.weight_dtype}", p))
        write_tables(outputs, tables, front, {"model": args.model,
                                              "skipped": [{"chip": c, "reason": r} for c, r in skipped]})
    from ..report.tables import frame_table

    print(frame_table(front[["chip", "mapping", "batch", "user_tokens_per_s", "tokens_per_s_per_chip", "usd_per_mtok"]]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    report_written(outputs)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("sweep", help=SWEEP_HELP, description=SWEEP_HELP + ".")
    add_common(p)
    p.add_argument("file", metavar="FILE|ID", help="a sweep file (.toml) or a bundled sweep id (`infersim specs list`)")
    p.add_argument("-o", "--output", default="sweep.csv", metavar="PATH",
                   help="the kept points: .csv, .json or .parquet (default sweep.csv); the histogram, the frontier "
                        "figure and the heatmap are written beside it")
    p.add_argument("--backend", choices=["local", "dask"], default="local",
                   help="local (default) or dask: split the grid into tasks on a dask.distributed cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address (default: a local cluster)")
    p.add_argument("--chunk", type=int_in(1, 10**10, "a number of points"), default=2_000_000, metavar="POINTS",
                   help="points per chunk: bounds the memory (default 2,000,000)")
    p.add_argument("--heatmap", metavar="X,Y", help="also draw the best $/M tokens over two columns of the results")
    p.add_argument("--show", type=int_in(1, 100_000, "a number of rows"), default=10, metavar="ROWS",
                   help="rows to print (default 10)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("pareto", help=PARETO_HELP, description=PARETO_HELP + ".")
    add_common(p)
    add_workload(p, batch=False, num_chips=False, objective=False, targets=False, compute_dtype=False,
                 speculative=True)
    add_chips(p, required=True)
    add_budget(p)
    p.add_argument("-o", "--output", default="pareto", metavar="DIR",
                   help="folder for points.csv, frontier.csv and frontier.png (default pareto)")
    add_table_outputs(p, "the frontier table")
    p.set_defaults(func=cmd_pareto)
