"""`infersim sweep` and `infersim pareto`: design-space grids and the throughput-interactivity frontier."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InfersimError
from .options import add_common, add_workload, kv_dtype_of, library, positive_int, workload_of
from .output import TABLE, Outputs
from .progress import SweepProgress, chip_progress, end_progress


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..report.tables import frame_table
    from ..specs.loader import load
    from ..specs.sweep_file import SweepSpec
    from ..sweep.run import run_sweep

    outputs = Outputs()
    out = outputs.file("--output", args.output, TABLE)
    hist = outputs.file("--output", out.with_name(out.stem + "-histogram.csv"), (".csv",))
    front_fig = outputs.file("--output", out.with_name(out.stem + "-frontier.png"), (".png",))
    heat_fig = outputs.file("--heatmap", out.with_name(out.stem + "-heatmap.png"), (".png",)) if args.heatmap else None
    lib = library(args)
    spec = load(Path(args.file), SweepSpec) if args.file.endswith(".toml") else lib.sweep(args.file)
    result = run_sweep(lib, spec, chunk_points=args.chunk, backend=args.backend, scheduler=args.scheduler,
                       progress=SweepProgress(1))
    print(f"{spec.id}: {result.n_points:,} points, {result.n_feasible:,} fit and meet the targets, "
          f"{result.seconds:.2f} s ({result.n_points / result.seconds / 1e6:.2f} M points/s), "
          f"peak memory {result.peak_rss_bytes / 1e6:.0f} MB")
    varying = [c for c in result.table.columns if c.startswith("scale_") and result.table[c].nunique() > 1]
    cols = ["kept_as", "chip", "model", *varying, "tp", "pp", "batch", "input_len", "output_len", "usd_per_mtok",
            "user_tokens_per_s", "tokens_per_s_per_chip"]
    print(frame_table(result.table.sort_values("usd_per_mtok").head(args.show)[cols]))
    for c, why in result.skipped:
        print(f"skipped {c}: {why}")
    if args.heatmap:
        x, y = args.heatmap.split(",")
        for col in (x, y):
            if col not in result.table.columns:
                raise InfersimError(f"--heatmap column '{col}' is not in the results: {', '.join(result.table.columns)}")
    with outputs:
        outputs.table(out, result.table)
        outputs.csv(hist, result.histogram)
        if len(result.table):
            from ..report.scenario_plots import frontier_figure

            outputs.figure(front_fig, lambda p: frontier_figure(
                result.table, f"{spec.name}: kept points (best per chip variant, Pareto front)", p))
        if heat_fig:
            from ..report.scenario_plots import heatmap

            outputs.figure(heat_fig, lambda p: heatmap(result.table, x, y, "usd_per_mtok",
                                                       f"{spec.name}: best $/M tokens kept", p))
    print("wrote " + ", ".join(str(p) for p in outputs.written))
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    from ..analysis.frontier import frontier_points, per_chip_frontiers
    from ..report.scenario_plots import frontier_figure

    outputs = Outputs()
    out = outputs.folder("--output", args.output)
    files = {name: outputs.in_folder("--output", out, name) for name in ("points.csv", "frontier.csv", "frontier.png")}
    lib = library(args)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()]
    for c in chips:
        lib.path("chip", c)
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
    from ..report.tables import frame_table

    print(frame_table(front[["chip", "mapping", "batch", "user_tokens_per_s", "tokens_per_s_per_chip", "usd_per_mtok"]]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    print("wrote " + ", ".join(str(p) for p in outputs.written))
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("sweep", help="design-space sweep from a sweep file, streamed with reductions")
    add_common(p)
    p.add_argument("file", metavar="FILE|ID", help="a sweep file (.toml) or a bundled sweep id")
    p.add_argument("-o", "--output", default="sweep.csv", help="results file, .csv or .parquet")
    p.add_argument("--backend", choices=["local", "dask"], default="local")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address (default: a local cluster)")
    p.add_argument("--chunk", type=positive_int, default=2_000_000, help="points per chunk (memory bound)")
    p.add_argument("--heatmap", metavar="X,Y", help="also draw the best $/M tokens over two columns")
    p.add_argument("--show", type=positive_int, default=10, help="rows to print (default 10)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("pareto", help="throughput-interactivity frontier of several chips: CSV and a figure")
    add_common(p)
    add_workload(p)
    p.add_argument("--chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--budget", default="central-2025", metavar="ID", help="for $/M tokens ('none' to skip)")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto")
    p.add_argument("-o", "--output", default="pareto", metavar="DIR", help="folder for points.csv, frontier.csv, frontier.png")
    p.set_defaults(func=cmd_pareto)
