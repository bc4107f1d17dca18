"""Fit the one parameter of each spatial chip family on its published per-user speeds and report
every row (fitted and held out).

    python benchmarks/accuracy/spatial_fit.py            # fit, write the values into the chip files, report
    python benchmarks/accuracy/spatial_fit.py --check    # fit and report only; write nothing

Rows: benchmarks/accuracy/spatial_speeds.csv (non-Llama, non-Mixtral models only: the Llama-family
and Mixtral speeds on these chips are held out for testing and appear nowhere here). Each chip's
[spatial] section names the fitted field and the rows it is fitted on; the procedure is in
infersim.accuracy.spatial_speeds.fit_chip (bisection in log space on the median log error).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

import pandas as pd

from infersim.accuracy.spatial_speeds import (
    current_value, fit_chip, read_speed_rows, speed_report, with_spatial_value,
)
from infersim.specs.library import Library

HERE = Path(__file__).resolve().parent
DATA = HERE / "spatial_speeds.csv"
FIELD_LINE = {"fabric_hop_s": "fabric_hop_s", "interconnect.scaleup_latency_s": "scaleup_latency_s",
              "efficiency.step_overhead_s": "step_overhead_s"}


def write_value(path: Path, field: str, value: float, rows: list[str], date: str) -> None:
    """Replace the fitted field's value and comment in the chip file, keeping everything else."""
    key = FIELD_LINE[field]
    text = path.read_text()
    pattern = re.compile(rf"^({key}\s*=\s*)[-+0-9.eE]+(\s*)#.*$", re.MULTILINE)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no '{key} = ...' line to write the fitted value into")
    comment = (f"# fitted ({date}): benchmarks/accuracy/spatial_fit.py, median log error zero on "
               f"{', '.join(rows)}; not published")
    text = pattern.sub(lambda m: f"{m.group(1)}{value:.3g}  {comment}", text, count=1)
    path.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fit and report only; write nothing")
    args = ap.parse_args()
    lib = Library()
    df = read_speed_rows(DATA)
    date = datetime.date.today().isoformat()
    fitted = {}
    for chip_id in sorted(df["hardware"].unique()):
        chip = lib.chip(chip_id)
        value, _ = fit_chip(lib, df, chip_id)
        fitted[chip_id] = with_spatial_value(chip, chip.spatial.fitted, value)
        print(f"{chip_id}: {chip.spatial.fitted} = {value:.3g} s (was {current_value(chip, chip.spatial.fitted):.3g}), "
              f"fitted on {', '.join(chip.spatial.fitted_on)}")
        if not args.check:
            write_value(lib.path("chip", chip_id), chip.spatial.fitted, value, chip.spatial.fitted_on, date)
    report = speed_report(lib, df, fitted)
    pd.set_option("display.width", 200)
    cols = ["id", "model", "num_chips", "mapping", "speculative", "predicted", "measured", "signed_error", "use"]
    print(report[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for use, g in report.groupby("use"):
        within = (g["signed_error"].abs() <= 0.30).sum()
        print(f"{use}: {len(g)} rows, median |error| {g['signed_error'].abs().median():.1%}, {within} within 30 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
