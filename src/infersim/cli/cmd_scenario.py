"""`infersim scenario`: run a question file and write its tables and figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_common, library
from .output import Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables

HELP = "run a scenario: a question file, its tables and figures"
from .progress import chip_progress, end_progress


def cmd_scenario(args: argparse.Namespace) -> int:
    from ..analysis.scenarios import ASIC_CLAIM_RANGE, run_scenario
    from ..report import scenario_plots as plots
    from ..report.tables import frame_table
    from ..specs.loader import load
    from ..specs.scenario_file import ScenarioSpec

    lib = library(args)
    if args.scenario_cmd == "list":
        for sid in lib.ids("scenario"):
            sc = lib.scenario(sid)
            print(f"{sid:<32} {sc.kind:<20} {sc.question}")
        return 0
    out = Outputs()
    folder = out.folder("--output", args.output)
    tables = plan_table_outputs(out, args)
    target = Path(args.file)
    spec = load(target, ScenarioSpec) if target.suffix == ".toml" else lib.scenario(args.file)
    result = run_scenario(lib, spec, progress=chip_progress)
    end_progress()
    print(f"{spec.name}\n{spec.question}\n")
    print(frame_table(result.headline))
    print(f"\n{result.summary}")
    for chip, why in result.skipped:
        print(f"skipped {chip}: {why}")
    with out:
        write_tables(out, tables, result.headline, {"scenario": spec.id, "summary": result.summary})
        if folder:
            out.csv(out.in_folder("--output", folder, "headline.csv"), result.headline)
            for name, table in result.tables.items():
                out.csv(out.in_folder("--output", folder, f"{name}.csv"), table)
            out.text(out.in_folder("--output", folder, "summary.txt"), result.summary + "\n")
            for name, draw in _scenario_figures(lib, spec, result, plots, ASIC_CLAIM_RANGE):
                out.figure(out.in_folder("--output", folder, name), draw)
    report_written(out)
    return 0


def _scenario_figures(lib, spec, result, plots, claim) -> list[tuple[str, object]]:
    """(file name, draw(path)) of the scenario's figures."""
    head = result.headline
    if spec.kind == "pairwise_advantage":
        adv, drivers = result.tables["advantage"], result.tables["drivers"]
        figs = [("advantage.png", lambda p: plots.advantage_views(adv, claim, p)),
                ("probability.png", lambda p: plots.probability_grid(adv, p))]
        if len(drivers):
            first = drivers.iloc[0]
            d = drivers[(drivers["asic"] == first["asic"]) & (drivers["gpu"] == first["gpu"])].rename(
                columns={"advantage_at_low": "metric_at_low", "advantage_at_high": "metric_at_high",
                         "advantage_central": "central_metric"})
            figs.append(("tornado.png", lambda p: plots.tornado_chart(
                d, f"advantage of {first['asic']} over {first['gpu']} (owner, first load profile)", p)))
        return figs
    if spec.kind == "migration":
        return [("migration.png", lambda p: plots.migration_ranges(head, p))]
    if spec.kind == "optics":
        return [("optics.png", lambda p: plots.optics_counts(result.tables["points"], p))]
    if spec.kind == "time_to_power":
        return [("tokens_by_year.png", lambda p: plots.time_to_power_curves(result.tables["by_year"], p))]
    if spec.kind == "elasticity":
        return [("elasticities.png", lambda p: plots.elasticities(head, p)),
                ("roofline.png", lambda p: _scenario_roofline(lib, spec, p))]
    if spec.kind == "budget_shock":
        return [("usd_per_mtok_change.png", lambda p: plots.pass_through_bars(head, p))]
    if spec.kind == "power_limited":
        return [("site_tokens.png", lambda p: plots.bars(
            head, "site_output_tokens_per_s", f"output tokens/s of a {spec.site_power_mw:g} MW site", p, log=True))]
    if spec.kind == "latency_vs_cost":
        return [("latency_vs_cost.png", lambda p: plots.latency_cost(result.tables["points"], p))]
    if spec.kind == "request_rate":
        return [("usd_per_mtok_vs_rate.png", lambda p: plots.rate_curves(result.tables["points"], p))]
    return []


def _scenario_roofline(lib, spec, path: Path) -> Path:
    from ..model.configuration import Workload, resolve_precision
    from ..model.mapping_search import min_chips_to_fit
    from ..report.roofline_plot import roofline_figure

    chip = lib.chip(spec.chips[0] if spec.chips else "nvidia-h100-sxm")
    arch = lib.architecture(spec.model)
    p = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
    w = Workload(spec.input_len, spec.output_len)
    _, m = min_chips_to_fit(chip, arch, p, w)
    return roofline_figure(chip, arch, p, m, w, (1, 8, 64, 256), path)


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("scenario", help=HELP, description=HELP + ".")
    scen_sub = p.add_subparsers(dest="scenario_cmd", required=True, metavar="{list,run}")
    q = scen_sub.add_parser("list", help="the scenarios on the search path, with their questions",
                            description="The scenarios on the search path, with their questions.")
    add_common(q)
    q = scen_sub.add_parser("run", help="run one scenario (a file or an id) and print its headline table",
                            description="Run one scenario (a file or an id) and print its headline table.")
    add_common(q)
    q.add_argument("file", metavar="FILE|ID", help="a scenario file (.toml) or a scenario id (`infersim scenario list`)")
    q.add_argument("-o", "--output", metavar="DIR", help="write every table as CSV, the summary and the figures here")
    add_table_outputs(q, "the headline table")
    p.set_defaults(func=cmd_scenario)
