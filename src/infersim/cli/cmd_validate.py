"""`infersim validate`: predict published measurements and report the error."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_common, library
from .output import CSV, JSON, Outputs, report_written

HELP = "predict published measurements (a CSV) from the spec files alone and report the error"
from .progress import chip_progress, end_progress


def cmd_validate(args: argparse.Namespace) -> int:
    from ..accuracy.predict import read_rows, run_validation
    from ..report.tables import frame_table

    out = Outputs()
    json_path = out.file("--json", args.json, JSON)
    csv_path = out.file("--csv", args.csv, CSV)
    lib = library(args)
    data = read_rows(Path(args.file))
    df = data.table
    report = run_validation(lib, data, progress=chip_progress, server_load=args.server_load)
    end_progress()
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
    total = len(df) + len(report.invalid)
    print(f"\npredicted {summary['predicted']} of {total} rows; not predicted: {summary['skipped']}; "
          f"invalid (schema): {summary['invalid']}")
    print({"auto": "server rows: MLPerf ones at the highest rate meeting their p99 limits (their load is the "
                   "benchmark's result), others at load_qps; --server-load row for all at load_qps",
           "row": "server rows at load_qps", "limit": "server rows at the highest rate meeting their p99 limits"}
          [args.server_load])
    for rid, why in report.skipped:
        print(f"  {rid}: {why}")
    if report.invalid:
        print(f"invalid rows of {args.file} (fix them as benchmarks/accuracy/README.md says):")
        for bad in report.invalid:
            print(f"  {bad}")
    filled = rows[rows["filled"] != ""] if len(rows) else rows
    if len(filled):
        print("empty fields filled (the schema's 'unknown'), and the values used:")
        for what, g in filled.groupby("filled", sort=False):
            ids = list(g["id"])
            print(f"  {what}: {', '.join(ids) if len(ids) <= 4 else f'{ids[0]} ... {ids[-1]} ({len(ids)} rows)'}")
    with out:
        if csv_path:
            out.csv(csv_path, rows)
        if json_path:
            out.json(json_path, {
                "rows": [{"id": r.id, "metric": r.metric, "predicted": r.predicted, "measured": r.measured,
                          "ape": r.ape, "mapping": r.mapping, "num_chips": int(r.num_chips),
                          "input_len_used": int(r.input_len_used), "output_len_used": int(r.output_len_used),
                          "weight_dtype_used": r.weight_dtype_used, "filled": r.filled}
                         for r in rows.itertuples(index=False)],
                "skipped": [{"id": i, "reason": why} for i, why in report.skipped],
                "invalid": [{"line": b.line, "id": b.id, "reason": b.reason} for b in report.invalid],
                "summary": summary})
    report_written(out)
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the parser."""
    p = sub.add_parser("validate", help=HELP, description=HELP + ".")
    add_common(p)
    p.add_argument("file", metavar="FILE.csv", help="rows in the schema of benchmarks/accuracy/README.md")
    p.add_argument("--csv", metavar="PATH", help="also write the predicted rows as CSV")
    p.add_argument("--json", metavar="PATH", help="also write rows, skipped rows and the summary as JSON")
    p.add_argument("--server-load", choices=("auto", "row", "limit"), default="auto",
                   help="server rows at their load_qps (row, the schema's definition), at the highest rate that "
                        "meets their p99 limits (limit), or auto (default): limit where the load is the benchmark's "
                        "result (MLPerf Server), row elsewhere")
    p.set_defaults(func=cmd_validate)
