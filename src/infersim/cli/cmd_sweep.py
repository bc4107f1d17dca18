"""`infersim sweep` and `infersim pareto`: design-space grids and the throughput-interactivity frontier."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InfersimError
from .options import add_common, add_workload, kv_dtype_of, library, positive_int, workload_of
from .progress import SweepProgress, chip_progress, end_progress


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..report.tables import frame_table
    from ..specs.loader import load
    from ..specs.sweep_file import SweepSpec
    from ..sweep.run import run_sweep

    lib = library(args)
    spec = load(Path(args.file), SweepSpec) if args.file.endswith(".toml") else lib.sweep(args.file)
    out = Path(args.output)
    if out.suffix not in (".csv", ".parquet"):
        raise InfersimError(f"output '{out}' must end in .csv or .parquet")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        try:
            result.table.to_parquet(out, index=False)
        except ImportError:
            raise InfersimError("writing parquet needs pyarrow: pip install 'infersim[parquet]', or use .csv") from None
    else:
        result.table.to_csv(out, index=False)
    hist = out.with_name(out.stem + "-histogram.csv")
    result.histogram.to_csv(hist, index=False)
    written = [out, hist]
    if len(result.table):
        from ..report.scenario_plots import frontier_figure

        written.append(frontier_figure(result.table, f"{spec.name}: kept points (best per chip variant, Pareto front)",
                                       out.with_name(out.stem + "-frontier.png")))
    if args.heatmap:
        from ..report.scenario_plots import heatmap

        x, y = args.heatmap.split(",")
        for col in (x, y):
            if col not in result.table.columns:
                raise InfersimError(f"--heatmap column '{col}' is not in the results: {', '.join(result.table.columns)}")
        written.append(heatmap(result.table, x, y, "usd_per_mtok", f"{spec.name}: best $/M tokens kept",
                               out.with_name(out.stem + "-heatmap.png")))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    from ..analysis.frontier import frontier_points, per_chip_frontiers
    from ..report.scenario_plots import frontier_figure

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
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    points.to_csv(out / "points.csv", index=False)
    front = per_chip_frontiers(points, "usd_per_mtok" if budget else "tokens_per_s_per_chip", budget is not None)
    front.to_csv(out / "frontier.csv", index=False)
    fig = frontier_figure(points, f"{args.model}: {workload.input_len}+{workload.output_len} tokens, "
                                  f"weights {args.weight_dtype}", out / "frontier.png")
    from ..report.tables import frame_table

    print(frame_table(front[["chip", "mapping", "batch", "user_tokens_per_s", "tokens_per_s_per_chip", "usd_per_mtok"]]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    print(f"wrote {out / 'points.csv'}, {out / 'frontier.csv'}, {fig}")
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
