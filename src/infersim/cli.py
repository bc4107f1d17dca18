"""Command-line front door. Parses arguments, calls the model, prints. No model logic here.

Every user error (InfersimError) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__, units
from .errors import InfersimError
from .specs.library import ENV_VAR, Library, check_file

DEFAULT_INPUT_LEN = 1024
DEFAULT_OUTPUT_LEN = 256


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _progress(i: int, n: int, name: str) -> None:
    if sys.stderr.isatty():
        print(f"\r[{i + 1}/{n}] {name:<32}", end="", file=sys.stderr, flush=True)


def _end_progress() -> None:
    if sys.stderr.isatty():
        print("\r" + " " * 48 + "\r", end="", file=sys.stderr, flush=True)


def _library(args: argparse.Namespace) -> Library:
    return Library(user_dirs=[Path(p) for p in (args.specs_dir or [])])


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--specs-dir", action="append", metavar="DIR",
                   help=f"a folder of your own spec files (repeatable; also ${ENV_VAR})")


def _add_workload(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="ID", help="model id (see `infersim specs list`) or a config.json path")
    p.add_argument("--weight-dtype", default="bf16", help="bf16, fp16, fp8, int8, fp4 or int4 (default bf16)")
    p.add_argument("--kv-dtype", default=None, help="bf16, fp16, fp8, int8 or fp4 (default: fp8 with fp8/fp4 weights, else bf16)")
    p.add_argument("--compute-dtype", default=None, help="math dtype; default: the weight dtype if the chip has it, "
                                                         "else weight-only quantization in bf16")
    p.add_argument("--traffic", metavar="ID", help="take input/output lengths from a traffic spec")
    p.add_argument("--input-len", type=_positive_int, help=f"prompt tokens (default {DEFAULT_INPUT_LEN})")
    p.add_argument("--output-len", type=_positive_int, help=f"generated tokens (default {DEFAULT_OUTPUT_LEN})")
    p.add_argument("--batch", type=_positive_int, help="sequences per replica (default: the largest that fits)")
    p.add_argument("--num-chips", type=_positive_int, help="chips to use (default: the fewest that hold the model)")
    p.add_argument("--objective", choices=["throughput", "latency"], default="throughput",
                   help="throughput: most tokens/s per chip; latency: lowest TPOT (default throughput)")
    p.add_argument("--max-ttft-ms", type=float, metavar="MS", help="TTFT target (default: the traffic spec's, else none)")
    p.add_argument("--max-tpot-ms", type=float, metavar="MS", help="TPOT target (default: the traffic spec's, else none)")


def _workload(args: argparse.Namespace, lib: Library):
    from .model.engine import Workload

    inp, out = DEFAULT_INPUT_LEN, DEFAULT_OUTPUT_LEN
    if args.traffic:
        t = lib.traffic(args.traffic)
        inp, out = round(t.input.mean_tokens), round(t.output.mean_tokens)
    return Workload(args.input_len or inp, args.output_len or out)


def _targets(args: argparse.Namespace, lib: Library):
    from .model.mapping import Targets

    ttft = args.max_ttft_ms / 1e3 if args.max_ttft_ms is not None else None
    tpot = args.max_tpot_ms / 1e3 if args.max_tpot_ms is not None else None
    if args.traffic:
        t = lib.traffic(args.traffic)
        ttft = ttft if ttft is not None else t.ttft_target_s
        tpot = tpot if tpot is not None else t.tpot_target_s
    for name, v in (("--max-ttft-ms", ttft), ("--max-tpot-ms", tpot)):
        if v is not None and v <= 0:
            raise InfersimError(f"{name} must be a positive number of milliseconds")
    return Targets(ttft, tpot)


def _length_distributions(args: argparse.Namespace, lib: Library, workload):
    """(inputs, outputs): the traffic spec's spread around the workload's means, or fixed lengths."""
    from .specs.traffic import lengths_around

    return lengths_around(lib.traffic(args.traffic) if args.traffic else None, workload.input_len, workload.output_len)


def _kv_dtype(args: argparse.Namespace) -> str:
    if args.kv_dtype:
        return args.kv_dtype
    return "fp8" if args.weight_dtype in ("fp8", "fp4") else "bf16"


# ---- commands ------------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
    from .report.tables import comparison_table
    from .sweep.compare import compare

    lib = _library(args)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()] if args.chips else lib.ids("chip")
    for c in chips:
        lib.path("chip", c)  # unknown ids fail here, before any work
    workload = _workload(args, lib)
    targets = _targets(args, lib)
    budget = None if args.budget == "none" else lib.budget(args.budget)
    result = compare(lib, args.model, chips, workload, args.weight_dtype, _kv_dtype(args), args.compute_dtype,
                     args.num_chips, args.batch or 0, args.objective, targets, budget, args.price_basis,
                     args.uncertainty, args.rank_by, progress=_progress)
    _end_progress()
    if result.table.empty:
        reasons = "; ".join(f"{c}: {why}" for c, why in result.skipped)
        raise InfersimError(f"no chip could run {args.model}: {reasons}")
    df = result.table
    limits = ", ".join(f"{n} <= {units.s_to_ms(v):g} ms" for n, v in (("TTFT", targets.max_ttft_s),
                                                                       ("TPOT", targets.max_tpot_s)) if v is not None)
    print(f"{args.model}: {workload.input_len} input + {workload.output_len} output tokens, "
          f"weights {args.weight_dtype}, KV {_kv_dtype(args)}, objective {args.objective}"
          + (f", targets {limits}" if limits else "") + (f", budget {args.budget}" if budget else ""))
    print(comparison_table(df))
    if (df["weight_only"]).any():
        print("* weight-only quantization: the chip has no math for the weight dtype; weights are read "
              "narrow and computed in the dtype shown")
    if not df["efficiency_fitted"].all():
        print("~ efficiencies not calibrated on measurements (family defaults): optimistic against calibrated chips")
    for chip, why in result.skipped:
        print(f"skipped {chip}: {why}")
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": args.model, "input_len": workload.input_len, "output_len": workload.output_len,
            "rows": json.loads(df.to_json(orient="records")),
            "skipped": [{"chip": c, "reason": r} for c, r in result.skipped],
        }, indent=2))
        print(f"wrote {args.json}")
    return 0


def _search_one(args: argparse.Namespace, lib: Library):
    from .model.engine import resolve_precision
    from .model.mapping import search

    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    precision = resolve_precision(chip, args.weight_dtype, _kv_dtype(args), args.compute_dtype)
    workload = _workload(args, lib)
    found = search(chip, arch, precision, workload, args.num_chips, args.batch or 0, args.objective,
                   _targets(args, lib))
    return chip, arch, precision, workload, found.best


def cmd_explain(args: argparse.Namespace) -> int:
    from .model.engine import operator_table
    from .report.tables import operator_table_text

    lib = _library(args)
    chip, arch, precision, workload, best = _search_one(args, lib)
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
    from .report.roofline_plot import roofline_figure

    lib = _library(args)
    args.objective = "throughput"
    chip, arch, precision, workload, best = _search_one(args, lib)
    batches = sorted({b for b in (int(x) for x in args.batches.split(",")) if 1 <= b <= best.max_batch})
    if not batches:
        raise InfersimError(f"none of the batch sizes {args.batches} fit (max {best.max_batch}): pass smaller --batches")
    path = roofline_figure(chip, arch, precision, best.mapping, workload, batches, Path(args.output))
    print(f"wrote {path}")
    return 0


def cmd_goodput(args: argparse.Namespace) -> int:
    from .model.engine import resolve_precision
    from .model.mapping import _mappings, chip_counts, min_chips_to_fit
    from .model.serving import best_goodput

    lib = _library(args)
    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    precision = resolve_precision(chip, args.weight_dtype, _kv_dtype(args), args.compute_dtype)
    workload = _workload(args, lib)
    targets = _targets(args, lib)
    inputs, outputs = _length_distributions(args, lib, workload)
    need, _ = min_chips_to_fit(chip, arch, precision, workload)
    mappings = [m for n in chip_counts(chip, need, args.num_chips) for m in _mappings(chip, arch, n, need)]
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


def cmd_pareto(args: argparse.Namespace) -> int:
    from .report.scenario_plots import frontier_figure
    from .sweep.frontier import frontier_points, per_chip_frontiers

    lib = _library(args)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()]
    for c in chips:
        lib.path("chip", c)
    workload = _workload(args, lib)
    budget = None if args.budget == "none" else lib.budget(args.budget)
    points, skipped = frontier_points(lib, args.model, chips, workload, args.weight_dtype, _kv_dtype(args), budget,
                                      args.price_basis, progress=_progress)
    _end_progress()
    if points.empty:
        raise InfersimError("no chip could run the model: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    points.to_csv(out / "points.csv", index=False)
    front = per_chip_frontiers(points, "usd_per_mtok" if budget else "tokens_per_s_per_chip", budget is not None)
    front.to_csv(out / "frontier.csv", index=False)
    fig = frontier_figure(points, f"{args.model}: {workload.input_len}+{workload.output_len} tokens, "
                                  f"weights {args.weight_dtype}", out / "frontier.png")
    from .report.tables import frame_table

    print(frame_table(front[["chip", "mapping", "batch", "user_tokens_per_s", "tokens_per_s_per_chip", "usd_per_mtok"]]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    print(f"wrote {out / 'points.csv'}, {out / 'frontier.csv'}, {fig}")
    return 0


def cmd_disagg(args: argparse.Namespace) -> int:
    from .report.tables import frame_table
    from .sweep.disagg import compare_serving

    lib = _library(args)
    pre = [c.strip() for c in args.prefill_chips.split(",") if c.strip()]
    dec = [c.strip() for c in args.decode_chips.split(",") if c.strip()]
    for c in pre + dec:
        lib.path("chip", c)
    workload = _workload(args, lib)
    targets = _targets(args, lib)
    if targets.max_ttft_s is None or targets.max_tpot_s is None:
        raise InfersimError("disaggregation compares at p99 targets: give --max-ttft-ms and --max-tpot-ms (or --traffic)")
    inputs, outputs = _length_distributions(args, lib, workload)
    table, skipped = compare_serving(lib, args.model, pre, dec, inputs, outputs, args.weight_dtype, _kv_dtype(args),
                                     targets.max_ttft_s, targets.max_tpot_s, lib.budget(args.budget),
                                     args.price_basis, progress=_progress)
    _end_progress()
    print(f"{args.model}: {workload.input_len}+{workload.output_len} tokens, p99 TTFT <= "
          f"{units.s_to_ms(targets.max_ttft_s):g} ms, p99 TPOT <= {units.s_to_ms(targets.max_tpot_s):g} ms, "
          f"budget {args.budget}")
    cols = ["serving", "prefill_chip", "decode_chip", "prefill_mapping", "decode_mapping", "chips_per_request_per_s",
            "prefill_share_of_chips", "ttft_p99_s", "tpot_p99_s", "usd_per_mtok"]
    print(frame_table(table[cols], percent=["prefill_share_of_chips"]))
    for c, why in skipped:
        print(f"skipped {c}: {why}")
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def cmd_speculate(args: argparse.Namespace) -> int:
    from .model.engine import Mapping, resolve_precision, speculative_decode
    from .report.tables import render

    lib = _library(args)
    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    draft = None if args.draft == "mtp" else lib.architecture(args.draft)
    precision = resolve_precision(chip, args.weight_dtype, _kv_dtype(args), args.compute_dtype)
    workload = _workload(args, lib)
    args.objective = "latency"
    _, _, _, _, best = _search_one(args, lib)
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


def cmd_sweep(args: argparse.Namespace) -> int:
    from .report.tables import frame_table
    from .specs.loader import load
    from .specs.sweep import SweepSpec
    from .sweep.engine import run_sweep

    lib = _library(args)
    spec = load(Path(args.file), SweepSpec) if args.file.endswith(".toml") else lib.sweep(args.file)
    out = Path(args.output)
    if out.suffix not in (".csv", ".parquet"):
        raise InfersimError(f"output '{out}' must end in .csv or .parquet")
    result = run_sweep(lib, spec, chunk_points=args.chunk, backend=args.backend, scheduler=args.scheduler)
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
        from .report.scenario_plots import frontier_figure

        written.append(frontier_figure(result.table, f"{spec.name}: kept points (best per chip variant, Pareto front)",
                                       out.with_name(out.stem + "-frontier.png")))
    if args.heatmap:
        from .report.scenario_plots import heatmap

        x, y = args.heatmap.split(",")
        for col in (x, y):
            if col not in result.table.columns:
                raise InfersimError(f"--heatmap column '{col}' is not in the results: {', '.join(result.table.columns)}")
        written.append(heatmap(result.table, x, y, "usd_per_mtok", f"{spec.name}: best $/M tokens kept",
                               out.with_name(out.stem + "-heatmap.png")))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .report.tables import frame_table
    from .sweep.validation import read_rows, run_validation

    lib = _library(args)
    df = read_rows(Path(args.file))
    report = run_validation(lib, df, progress=_progress, server_load=args.server_load)
    _end_progress()
    rows = report.rows
    if len(rows):
        print(frame_table(rows[["id", "hardware", "mode", "metric", "predicted", "measured", "signed_error"]]))
    summary = report.summary()
    for key, title in (("by_metric", "metric"), ("by_family", "hardware family"),
                       ("by_metric_family", "metric x family (n >= 5)")):
        table = [{title: k, **v} for k, v in summary[key].items()]
        if table:
            import pandas as pd

            print(f"\nabsolute percentage error by {title}")
            print(frame_table(pd.DataFrame(table)))
    print(f"\npredicted {summary['predicted']} of {len(df)} rows; not predicted: {summary['skipped']}")
    print({"auto": "server rows: MLPerf ones at the highest rate meeting their p99 limits (their load is the "
                   "benchmark's result), others at load_qps; --server-load row for all at load_qps",
           "row": "server rows at load_qps", "limit": "server rows at the highest rate meeting their p99 limits"}
          [args.server_load])
    for rid, why in report.skipped:
        print(f"  {rid}: {why}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "rows": [{"id": r.id, "metric": r.metric, "predicted": r.predicted, "measured": r.measured, "ape": r.ape}
                     for r in rows.itertuples(index=False)],
            "skipped": [{"id": i, "reason": why} for i, why in report.skipped],
            "summary": summary}, indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_tco(args: argparse.Namespace) -> int:
    from .cost.tco import COMPONENTS, chip_hour_cost
    from .report.tables import render

    lib = _library(args)
    budget = lib.budget(args.budget)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()]
    rows = []
    for cid in chips:
        c = chip_hour_cost(lib.chip(cid), budget, args.price_basis)
        comps = c.components()
        rows.append([cid, f"{c.chip_price_usd:,.0f}"] + [f"{comps[k]:.3f}" for k in COMPONENTS]
                    + [f"{c.total_usd_per_hour:.3f}", f"{c.site_power_avg_w:,.0f}", f"{c.site_power_peak_w:,.0f}"])
    print(f"$/hour of one deployed chip, budget {args.budget} (central values); hbm is part of chip")
    print(render(["chip", "price $", *COMPONENTS, "total $/h", "site W avg", "site W peak"], rows))
    if args.tornado:
        from .cost.tco import tornado
        from .report.tables import frame_table

        for cid in chips:
            df = tornado([lib.chip(cid)], budget, lambda c: c[0], args.price_basis).head(args.tornado)
            print(f"\n{cid}: what moves $/chip-hour most (each input at its low and high, the rest central)")
            print(frame_table(df.rename(columns={"metric_at_low": "usd_per_hour_at_low",
                                                 "metric_at_high": "usd_per_hour_at_high",
                                                 "central_metric": "usd_per_hour_central"})))
            if args.output:
                from .report.scenario_plots import tornado_chart

                path = tornado_chart(df, f"$/hour of one {cid}", Path(args.output) / f"tornado-{cid}.png")
                print(f"wrote {path}")
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    from .report import scenario_plots as plots
    from .report.tables import frame_table
    from .specs.loader import load
    from .specs.scenario import ScenarioSpec
    from .sweep.scenarios import ASIC_CLAIM_RANGE, run_scenario

    lib = _library(args)
    if args.scenario_cmd == "list":
        for sid in lib.ids("scenario"):
            sc = lib.scenario(sid)
            print(f"{sid:<32} {sc.kind:<20} {sc.question}")
        return 0
    target = Path(args.file)
    spec = load(target, ScenarioSpec) if target.suffix == ".toml" else lib.scenario(args.file)
    result = run_scenario(lib, spec, progress=_progress)
    _end_progress()
    print(f"{spec.name}\n{spec.question}\n")
    print(frame_table(result.headline))
    print(f"\n{result.summary}")
    for chip, why in result.skipped:
        print(f"skipped {chip}: {why}")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "headline.csv"]
        result.headline.to_csv(written[0], index=False)
        for name, table in result.tables.items():
            written.append(out / f"{name}.csv")
            table.to_csv(written[-1], index=False)
        (out / "summary.txt").write_text(result.summary + "\n")
        written += _scenario_figures(lib, spec, result, out, plots, ASIC_CLAIM_RANGE)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _scenario_figures(lib, spec, result, out: Path, plots, claim) -> list[Path]:
    head = result.headline
    if spec.kind == "pairwise_advantage":
        figs = [plots.advantage_bands(head, claim, out / "advantage.png")]
        drivers = result.tables["drivers"]
        first = head.iloc[0]
        d = drivers[(drivers["asic"] == first["asic"]) & (drivers["gpu"] == first["gpu"])].rename(
            columns={"advantage_at_low": "metric_at_low", "advantage_at_high": "metric_at_high"})
        d = d.assign(central_metric=first["advantage_central"])
        figs.append(plots.tornado_chart(d, f"advantage of {first['asic']} over {first['gpu']}", out / "tornado.png"))
        return figs
    if spec.kind == "elasticity":
        return [plots.elasticities(head, out / "elasticities.png"), _scenario_roofline(lib, spec, out)]
    if spec.kind == "budget_shock":
        return [plots.bars(head, "usd_per_mtok_change", "change in $/M tokens (%)", out / "usd_per_mtok_change.png",
                           pct=True)]
    if spec.kind == "power_limited":
        return [plots.bars(head, "site_output_tokens_per_s", f"output tokens/s of a {spec.site_power_mw:g} MW site",
                           out / "site_tokens.png", log=True)]
    if spec.kind == "latency_vs_cost":
        return [plots.latency_cost(result.tables["points"], out / "latency_vs_cost.png")]
    if spec.kind == "request_rate":
        return [plots.rate_curves(result.tables["points"], out / "usd_per_mtok_vs_rate.png")]
    return []


def _scenario_roofline(lib, spec, out: Path) -> Path:
    from .model.engine import Workload, resolve_precision
    from .model.mapping import min_chips_to_fit
    from .report.roofline_plot import roofline_figure

    chip = lib.chip(spec.chips[0] if spec.chips else "nvidia-h100-sxm")
    arch = lib.architecture(spec.model)
    p = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
    w = Workload(spec.input_len, spec.output_len)
    _, m = min_chips_to_fit(chip, arch, p, w)
    return roofline_figure(chip, arch, p, m, w, (1, 8, 64, 256), out / "roofline.png")


def cmd_specs(args: argparse.Namespace) -> int:
    lib = _library(args)
    if args.specs_cmd == "list":
        return _specs_list(lib, args)
    if args.specs_cmd == "show":
        for cat in ("chip", "model", "traffic", "budget", "scenario"):
            if args.id in lib.ids(cat):
                path = lib.path(cat, args.id)
                print(f"# {cat} {args.id}: {path}")
                print(path.read_text())
                return 0
        lib.path("chip", args.id)  # raises with suggestions
    if args.specs_cmd == "check":
        paths = [Path(p) for p in args.paths] if args.paths else [p for _, p in lib.all_files()]
        files = []
        for p in paths:
            if p.is_dir():
                files += sorted(p.rglob("*.toml"))
            elif p.exists():
                files.append(p)
            else:
                raise InfersimError(f"{p}: no such file or folder")
        errors = [e for f in files for e in check_file(f)]
        for e in errors:
            print(e)
        if errors:
            print(f"{len(errors)} error(s) in {len(files)} file(s)", file=sys.stderr)
            return 2
        print(f"{len(files)} file(s) OK")
    return 0


def _specs_list(lib: Library, args: argparse.Namespace) -> int:
    from .report.tables import render

    cats = ("chip", "model", "traffic", "budget", "scenario")
    show = [c for c in cats if getattr(args, c)] or list(cats)
    if "chip" in show:
        rows = []
        for cid in lib.ids("chip"):
            c = lib.chip(cid)
            f = c.compute.dense_flops_per_s
            m = c.memory.main
            rows.append([cid, c.kind, f"{(f.bf16 or f.fp16 or 0) / 1e12:.0f}", f"{(f.fp8 or 0) / 1e12:.0f}",
                         f"{(f.fp4 or 0) / 1e12:.0f}", f"{units.bytes_to_gb(m.capacity_bytes):.3g}",
                         f"{units.bytes_per_s_to_tb_per_s(m.bandwidth_bytes_per_s):.3g}", f"{c.power.tdp_w:.0f}"])
        print(render(["chip", "kind", "bf16 TF", "fp8 TF", "fp4 TF", "mem GB", "mem TB/s", "TDP W"], rows, "llrrrrrr"))
    if "model" in show:
        rows = []
        for mid in lib.ids("model"):
            a = lib.architecture(mid)
            rows.append([mid, f"{a.total_params() / 1e9:.1f}", f"{a.active_params() / 1e9:.1f}", str(a.n_layers),
                         a.attention, f"{a.n_experts}/{a.experts_per_token}" if a.is_moe else "-"])
        print()
        print(render(["model", "params B", "active B", "layers", "attention", "experts"], rows, "lrrrll"))
    for cat in ("traffic", "budget", "scenario"):
        if cat in show and lib.ids(cat):
            print(f"\n{cat}: {', '.join(lib.ids(cat))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infersim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"infersim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compare", help="rank chips for one model and workload")
    _add_common(p)
    _add_workload(p)
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

    p = sub.add_parser("explain", help="per-operator table (FLOPs, bytes, time, bound) for one chip")
    _add_common(p)
    _add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("roofline", help="roofline figure of one chip with the model's operators on it")
    _add_common(p)
    _add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.add_argument("--batches", default="1,8,64,256", help="decode batch sizes to place (default 1,8,64,256)")
    p.add_argument("-o", "--output", default="roofline.png", help="figure file: .png, .svg or .pdf")
    p.set_defaults(func=cmd_roofline)

    p = sub.add_parser("pareto", help="throughput-interactivity frontier of several chips: CSV and a figure")
    _add_common(p)
    _add_workload(p)
    p.add_argument("--chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--budget", default="central-2025", metavar="ID", help="for $/M tokens ('none' to skip)")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto")
    p.add_argument("-o", "--output", default="pareto", metavar="DIR", help="folder for points.csv, frontier.csv, frontier.png")
    p.set_defaults(func=cmd_pareto)

    p = sub.add_parser("disagg", help="co-located vs disaggregated prefill/decode pools on $/M tokens at p99 targets")
    _add_common(p)
    _add_workload(p)
    p.add_argument("--prefill-chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--decode-chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--budget", default="central-2025", metavar="ID")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto")
    p.add_argument("--csv", metavar="PATH")
    p.set_defaults(func=cmd_disagg)

    p = sub.add_parser("speculate", help="speculative decoding (draft model or multi-token prediction): TPOT by tokens drafted")
    _add_common(p)
    _add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.add_argument("--draft", default="mtp", metavar="ID|mtp", help="draft model id, or mtp (one extra layer)")
    p.add_argument("--acceptance", type=float, default=0.7, help="probability a drafted token is accepted (default 0.7)")
    p.add_argument("--max-k", type=_positive_int, default=6, help="largest number of drafted tokens to tabulate")
    p.set_defaults(func=cmd_speculate)

    p = sub.add_parser("sweep", help="design-space sweep from a sweep file, streamed with reductions")
    _add_common(p)
    p.add_argument("file", metavar="FILE|ID", help="a sweep file (.toml) or a bundled sweep id")
    p.add_argument("-o", "--output", default="sweep.csv", help="results file, .csv or .parquet")
    p.add_argument("--backend", choices=["local", "dask"], default="local")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address (default: a local cluster)")
    p.add_argument("--chunk", type=_positive_int, default=2_000_000, help="points per chunk (memory bound)")
    p.add_argument("--heatmap", metavar="X,Y", help="also draw the best $/M tokens over two columns")
    p.add_argument("--show", type=_positive_int, default=10, help="rows to print (default 10)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("goodput", help="largest request rate meeting p99 TTFT/TPOT targets under continuous batching")
    _add_common(p)
    _add_workload(p)
    p.add_argument("--chip", required=True, metavar="ID")
    p.set_defaults(func=cmd_goodput)

    p = sub.add_parser("validate", help="predict published measurements (CSV) from the spec files and report the error")
    _add_common(p)
    p.add_argument("file", metavar="FILE.csv", help="rows in the schema of benchmarks/accuracy/README.md")
    p.add_argument("--json", metavar="PATH", help="also write rows, skipped rows and the summary as JSON")
    p.add_argument("--server-load", choices=("auto", "row", "limit"), default="auto",
                   help="server rows at their load_qps (row, the schema's definition), at the highest rate that "
                        "meets their p99 limits (limit), or auto (default): limit where the load is the benchmark's "
                        "result (MLPerf Server), row elsewhere")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("tco", help="$/hour of a deployed chip by component (chip, HBM, server, network, facility, power, upkeep)")
    _add_common(p)
    p.add_argument("--chips", required=True, metavar="ID[,ID...]")
    p.add_argument("--budget", default="central-2025", metavar="ID")
    p.add_argument("--price-basis", choices=["auto", "market", "bom"], default="auto")
    p.add_argument("--tornado", type=int, nargs="?", const=10, default=0, metavar="N",
                   help="also list the N inputs that move the cost most (default 10)")
    p.add_argument("-o", "--output", metavar="DIR", help="with --tornado: write a tornado figure per chip here")
    p.set_defaults(func=cmd_tco)

    p = sub.add_parser("scenario", help="run a scenario file: a question, its tables and figures")
    scen_sub = p.add_subparsers(dest="scenario_cmd", required=True)
    q = scen_sub.add_parser("list", help="the bundled scenarios")
    _add_common(q)
    q = scen_sub.add_parser("run", help="run one scenario (a file or a bundled id)")
    _add_common(q)
    q.add_argument("file", metavar="FILE|ID")
    q.add_argument("-o", "--output", metavar="DIR", help="write CSV tables, a summary and figures here")
    p.set_defaults(func=cmd_scenario)

    p = sub.add_parser("specs", help="list, show or check spec files")
    specs_sub = p.add_subparsers(dest="specs_cmd", required=True)
    q = specs_sub.add_parser("list", help="the chips, models, traffic and budgets on the search path")
    _add_common(q)
    for cat in ("chip", "model", "traffic", "budget", "scenario"):
        q.add_argument(f"--{cat}", action="store_true", help=f"only {cat}s")
    q = specs_sub.add_parser("show", help="print one spec file")
    _add_common(q)
    q.add_argument("id")
    q = specs_sub.add_parser("check", help="validate spec files; every error printed, exit 2 on any")
    _add_common(q)
    q.add_argument("paths", nargs="*", help="files or folders (default: the whole search path)")
    p.set_defaults(func=cmd_specs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InfersimError as exc:
        _end_progress()
        print(f"infersim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
