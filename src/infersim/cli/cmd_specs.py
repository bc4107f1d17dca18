"""`infersim specs`: list, show and check spec files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import units
from ..errors import InfersimError, SpecError, UnknownIdError
from ..specs.library import Library, check_file
from ..specs.loader import read_text
from .options import add_common, library
from .output import Outputs, add_table_outputs, plan_table_outputs, report_written, write_tables

HELP = "list, show or check spec files (chips, models, traffic, budgets, scenarios, sweeps)"
CATEGORIES = ("chip", "model", "traffic", "budget", "scenario", "sweep")


def cmd_specs(args: argparse.Namespace) -> int:
    lib = library(args)
    if args.specs_cmd == "list":
        return _specs_list(lib, args)
    if args.specs_cmd == "show":
        for cat in CATEGORIES:
            if args.id in lib.ids(cat):
                path = lib.path(cat, args.id)
                text = read_text(path)
                print(f"# {cat} {args.id}: {path}")
                print(text)
                return 0
        import difflib

        every = sorted({i for cat in CATEGORIES for i in lib.ids(cat)})
        near = difflib.get_close_matches(args.id, every, n=3, cutoff=0.4)
        raise UnknownIdError(f"unknown id '{args.id}' (no chip, model, traffic, budget, scenario or sweep has it): "
                             + (f"did you mean {', '.join(near)}?" if near else "see `infersim specs list`"))
    if args.specs_cmd == "check":
        paths = [Path(p) for p in args.paths] if args.paths else [p for _, p in lib.all_files()]
        files = []
        for p in paths:
            if p.is_dir():
                found = sorted(f for f in p.rglob("*.toml") if f.is_file())
                if not found:
                    raise InfersimError(f"{p}: no .toml spec file in this folder: give a spec file or its folder")
                files += found
            elif p.exists():
                files.append(p)
            else:
                raise InfersimError(f"{p}: no such file or folder")
        errors = [e for f in files for e in check_file(f)] + ([] if args.paths else lib.problems())
        for e in errors:
            print(e)
        if errors:
            print(f"{len(errors)} error(s) in {len(files)} file(s)", file=sys.stderr)
            return 2
        print(f"{len(files)} file(s) OK")
    return 0


def _specs_list(lib: Library, args: argparse.Namespace) -> int:
    import pandas as pd

    from ..report.tables import render

    show = [c for c in CATEGORIES if getattr(args, c)] or list(CATEGORIES)
    bad: list[str] = []

    def loaded(load, spec_id):
        """The spec, or None with its problem kept: one bad file does not hide every other one."""
        try:
            return load(spec_id)
        except SpecError as exc:
            bad.append(str(exc))
            return None

    if (args.csv or args.json) and sum(c in show for c in ("chip", "model")) != 1:
        raise InfersimError("--csv/--json write one table: add --chip or --model")
    out = Outputs()
    tables = plan_table_outputs(out, args)
    records = []
    if "chip" in show:
        rows = []
        for cid in lib.ids("chip"):
            c = loaded(lib.chip, cid)
            if c is None:
                continue
            f = c.compute.dense_flops_per_s
            m = c.memory.main
            rows.append([cid, c.kind, f"{(f.bf16 or f.fp16 or 0) / 1e12:.0f}", f"{(f.fp8 or 0) / 1e12:.0f}",
                         f"{(f.fp4 or 0) / 1e12:.0f}", f"{units.bytes_to_gb(m.capacity_bytes):.3g}",
                         f"{units.bytes_per_s_to_tb_per_s(m.bandwidth_bytes_per_s):.3g}", f"{c.power.tdp_w:.0f}"])
            records.append({"chip": cid, "kind": c.kind, "bf16_flops_per_s": f.bf16 or f.fp16,
                            "fp8_flops_per_s": f.fp8, "fp4_flops_per_s": f.fp4, "memory_bytes": m.capacity_bytes,
                            "memory_bw_bytes_per_s": m.bandwidth_bytes_per_s, "tdp_w": c.power.tdp_w})
        print(render(["chip", "kind", "bf16 TF", "fp8 TF", "fp4 TF", "mem GB", "mem TB/s", "TDP W"], rows, "llrrrrrr"))
    if "model" in show:
        rows = []
        for mid in lib.ids("model"):
            a = loaded(lib.architecture, mid)
            if a is None:
                continue
            rows.append([mid, f"{a.total_params() / 1e9:.1f}", f"{a.active_params() / 1e9:.1f}", str(a.n_layers),
                         a.attention, f"{a.n_experts}/{a.experts_per_token}" if a.is_moe else "-"])
            records.append({"model": mid, "total_params": a.total_params(), "active_params": a.active_params(),
                            "layers": a.n_layers, "attention": a.attention,
                            "experts": a.n_experts if a.is_moe else 0,
                            "experts_per_token": a.experts_per_token if a.is_moe else 0})
        print()
        print(render(["model", "params B", "active B", "layers", "attention", "experts"], rows, "lrrrll"))
    for cat in ("traffic", "budget", "scenario", "sweep"):
        if cat in show and lib.ids(cat):
            print(f"\n{cat}: {', '.join(lib.ids(cat))}")
    for problem in bad:
        print(f"infersim: warning: not listed: {problem}", file=sys.stderr)
    if records:
        with out:
            write_tables(out, tables, pd.DataFrame(records))
        report_written(out)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("specs", help=HELP, description=HELP + ".")
    specs_sub = p.add_subparsers(dest="specs_cmd", required=True, metavar="{list,show,check}")
    q = specs_sub.add_parser("list", help="the chips, models, traffic, budgets and scenarios on the search path",
                             description="The chips, models, traffic, budgets and scenarios on the search path.")
    add_common(q)
    for cat in CATEGORIES:
        q.add_argument(f"--{cat}", action="store_true", help="only traffic" if cat == "traffic" else f"only {cat}s")
    add_table_outputs(q, "the chip or model table (with --chip or --model)")
    q = specs_sub.add_parser("show", help="print one spec file", description="Print one spec file.")
    add_common(q)
    q.add_argument("id", help="a chip, model, traffic, budget, scenario or sweep id")
    q = specs_sub.add_parser("check", help="validate spec files; every error printed, exit 2 on any",
                             description="Validate spec files; every error printed, exit 2 on any.")
    add_common(q)
    q.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the whole search path)")
    p.set_defaults(func=cmd_specs)
